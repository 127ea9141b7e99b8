<?php
/*
 * Triplane: WordPress configuration from the environment (the pod translation sets these;
 * php-fpm passes only these variables to PHP, see pool-site.conf). Loaded by Debian's
 * /usr/share/wordpress/wp-config.php as the fallback config file.
 */
function triplane_env($name, $default = null) {
    $v = getenv($name);
    return ($v === false || $v === '') ? $default : $v;
}

define('DB_NAME', triplane_env('WORDPRESS_DB_NAME', 'wordpress'));
define('DB_USER', triplane_env('WORDPRESS_DB_USER', 'wordpress'));
define('DB_PASSWORD', triplane_env('WORDPRESS_DB_PASSWORD', ''));
define('DB_HOST', triplane_env('WORDPRESS_DB_HOST', '127.0.0.1:3306'));
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
$table_prefix = triplane_env('WORDPRESS_TABLE_PREFIX', 'wp_');

/* One secret seed per environment; the eight keys/salts are derived from it. */
$triplane_salt = triplane_env('WORDPRESS_SALT', '');
if (strlen($triplane_salt) < 32) {
    header('HTTP/1.1 500 Internal Server Error');
    error_log('triplane: WORDPRESS_SALT is missing or shorter than 32 characters');
    exit('Site configuration incomplete.');
}
foreach (array('AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY',
               'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT') as $k) {
    define($k, hash_hmac('sha256', $k, $triplane_salt));
}

define('WP_CONTENT_DIR', '/var/lib/wordpress/wp-content');
define('WP_MEMORY_LIMIT', triplane_env('WORDPRESS_MEMORY_LIMIT', '128M'));
define('WP_MAX_MEMORY_LIMIT', triplane_env('WORDPRESS_MEMORY_LIMIT', '256M'));
/* WP-cron is run by the platform on a timer, never on visitor requests. */
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_AUTO_UPDATE_CORE', false);
define('DISALLOW_FILE_EDIT', true);
define('FS_METHOD', 'direct');
/* Object cache drop-in settings (phpredis). */
define('WP_REDIS_HOST', triplane_env('WORDPRESS_REDIS_HOST', '127.0.0.1'));
define('WP_REDIS_PORT', (int) triplane_env('WORDPRESS_REDIS_PORT', '6379'));
define('WP_CACHE_KEY_SALT', substr(hash('sha256', 'cache' . $triplane_salt), 0, 16) . ':');
