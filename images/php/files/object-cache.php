<?php
/**
 * Triplane object-cache drop-in: the WordPress object cache on the environment's Redis
 * (phpredis, 127.0.0.1:6379 inside the pod). Shipped in the php image as
 * /usr/share/triplane/object-cache.php and symlinked from wp-content, so it updates with the
 * image. If Redis is unreachable the request falls back to a per-request memory cache (the
 * site stays up, just slower) and the failure is logged once.
 *
 * Values are stored wrapped (array('v' => $data)) so a cached `false` is not a miss.
 * incr/decr are read-modify-write like WordPress' own cache (not atomic across requests).
 */
defined('ABSPATH') || exit;

function wp_cache_init() { $GLOBALS['wp_object_cache'] = new WP_Object_Cache(); }
function wp_cache_supports($feature) {
	return in_array($feature, array('add_multiple', 'set_multiple', 'get_multiple', 'delete_multiple', 'flush_runtime', 'flush_group'), true);
}
function wp_cache_add($key, $data, $group = '', $expire = 0) { global $wp_object_cache; return $wp_object_cache->add($key, $data, $group, (int) $expire); }
function wp_cache_add_multiple(array $data, $group = '', $expire = 0) { global $wp_object_cache; return $wp_object_cache->add_multiple($data, $group, (int) $expire); }
function wp_cache_replace($key, $data, $group = '', $expire = 0) { global $wp_object_cache; return $wp_object_cache->replace($key, $data, $group, (int) $expire); }
function wp_cache_set($key, $data, $group = '', $expire = 0) { global $wp_object_cache; return $wp_object_cache->set($key, $data, $group, (int) $expire); }
function wp_cache_set_multiple(array $data, $group = '', $expire = 0) { global $wp_object_cache; return $wp_object_cache->set_multiple($data, $group, (int) $expire); }
function wp_cache_get($key, $group = '', $force = false, &$found = null) { global $wp_object_cache; return $wp_object_cache->get($key, $group, $force, $found); }
function wp_cache_get_multiple($keys, $group = '', $force = false) { global $wp_object_cache; return $wp_object_cache->get_multiple($keys, $group, $force); }
function wp_cache_delete($key, $group = '') { global $wp_object_cache; return $wp_object_cache->delete($key, $group); }
function wp_cache_delete_multiple(array $keys, $group = '') { global $wp_object_cache; return $wp_object_cache->delete_multiple($keys, $group); }
function wp_cache_incr($key, $offset = 1, $group = '') { global $wp_object_cache; return $wp_object_cache->incr($key, $offset, $group); }
function wp_cache_decr($key, $offset = 1, $group = '') { global $wp_object_cache; return $wp_object_cache->decr($key, $offset, $group); }
function wp_cache_flush() { global $wp_object_cache; return $wp_object_cache->flush(); }
function wp_cache_flush_runtime() { global $wp_object_cache; return $wp_object_cache->flush_runtime(); }
function wp_cache_flush_group($group) { global $wp_object_cache; return $wp_object_cache->flush_group($group); }
function wp_cache_close() { global $wp_object_cache; return $wp_object_cache->close(); }
function wp_cache_add_global_groups($groups) { global $wp_object_cache; $wp_object_cache->add_global_groups($groups); }
function wp_cache_add_non_persistent_groups($groups) { global $wp_object_cache; $wp_object_cache->add_non_persistent_groups($groups); }
function wp_cache_switch_to_blog($blog_id) { global $wp_object_cache; $wp_object_cache->switch_to_blog($blog_id); }
function wp_cache_reset() { global $wp_object_cache; $wp_object_cache->flush_runtime(); }

class WP_Object_Cache {
	public $cache_hits = 0;
	public $cache_misses = 0;
	private $cache = array();
	private $redis = null;
	private $global_groups = array();
	private $non_persistent_groups = array();
	private $blog_prefix = '';
	private $salt = '';

	public function __construct() {
		global $blog_id;
		$this->blog_prefix = (function_exists('is_multisite') && is_multisite()) ? (int) $blog_id . ':' : '';
		$this->salt = defined('WP_CACHE_KEY_SALT') ? WP_CACHE_KEY_SALT : '';
		if (!class_exists('Redis')) {
			error_log('triplane object cache: phpredis missing, using the per-request cache');
			return;
		}
		try {
			$r = new Redis();
			$host = defined('WP_REDIS_HOST') ? WP_REDIS_HOST : '127.0.0.1';
			$port = defined('WP_REDIS_PORT') ? (int) WP_REDIS_PORT : 6379;
			if ($r->connect($host, $port, 1.0)) {
				$r->setOption(Redis::OPT_SERIALIZER, Redis::SERIALIZER_PHP);
				$r->setOption(Redis::OPT_READ_TIMEOUT, 1.0);
				$r->setOption(Redis::OPT_SCAN, Redis::SCAN_RETRY);
				$this->redis = $r;
			}
		} catch (Exception $e) {
			$this->fail($e);
		}
	}

	private function fail($e) {
		if ($this->redis !== null) error_log('triplane object cache: redis error, falling back to the per-request cache: ' . $e->getMessage());
		$this->redis = null;
	}

	private function group($group) { return ($group === '' || $group === null) ? 'default' : (string) $group; }

	private function key($key, $group) {
		$group = $this->group($group);
		$prefix = isset($this->global_groups[$group]) ? '' : $this->blog_prefix;
		return $this->salt . $prefix . $group . ':' . $key;
	}

	private function persistent($group) { return $this->redis !== null && !isset($this->non_persistent_groups[$this->group($group)]); }

	private static function copy($v) { return is_object($v) ? clone $v : $v; }

	public function get($key, $group = 'default', $force = false, &$found = null) {
		$k = $this->key($key, $group);
		if (!$force && array_key_exists($k, $this->cache)) {
			$found = true;
			$this->cache_hits++;
			return self::copy($this->cache[$k]);
		}
		if ($this->persistent($group)) {
			try {
				$v = $this->redis->get($k);
			} catch (Exception $e) {
				$this->fail($e);
				$v = false;
			}
			if (is_array($v) && array_key_exists('v', $v)) {
				$this->cache[$k] = $v['v'];
				$found = true;
				$this->cache_hits++;
				return self::copy($v['v']);
			}
		}
		$found = false;
		$this->cache_misses++;
		return false;
	}

	public function get_multiple($keys, $group = 'default', $force = false) {
		$out = array();
		foreach ($keys as $key) $out[$key] = $this->get($key, $group, $force);
		return $out;
	}

	private function store($k, $data, $group, $expire, $opts) {
		if (!$this->persistent($group)) return true;
		try {
			if ($expire > 0) $opts['ex'] = (int) $expire;
			return (bool) (empty($opts) ? $this->redis->set($k, array('v' => $data)) : $this->redis->set($k, array('v' => $data), $opts));
		} catch (Exception $e) {
			$this->fail($e);
			return true;
		}
	}

	public function set($key, $data, $group = 'default', $expire = 0) {
		$k = $this->key($key, $group);
		$data = self::copy($data);
		$this->cache[$k] = $data;
		return $this->store($k, $data, $group, $expire, array());
	}

	public function set_multiple(array $data, $group = 'default', $expire = 0) {
		$out = array();
		foreach ($data as $key => $value) $out[$key] = $this->set($key, $value, $group, $expire);
		return $out;
	}

	public function add($key, $data, $group = 'default', $expire = 0) {
		if (function_exists('wp_suspend_cache_addition') && wp_suspend_cache_addition()) return false;
		$k = $this->key($key, $group);
		if (array_key_exists($k, $this->cache)) return false;
		$data = self::copy($data);
		if ($this->persistent($group) && !$this->store($k, $data, $group, $expire, array('nx'))) return false;
		$this->cache[$k] = $data;
		return true;
	}

	public function add_multiple(array $data, $group = 'default', $expire = 0) {
		$out = array();
		foreach ($data as $key => $value) $out[$key] = $this->add($key, $value, $group, $expire);
		return $out;
	}

	public function replace($key, $data, $group = 'default', $expire = 0) {
		$k = $this->key($key, $group);
		$data = self::copy($data);
		if ($this->persistent($group)) {
			if (!$this->store($k, $data, $group, $expire, array('xx'))) return false;
		} elseif (!array_key_exists($k, $this->cache)) {
			return false;
		}
		$this->cache[$k] = $data;
		return true;
	}

	public function delete($key, $group = 'default') {
		$k = $this->key($key, $group);
		$had = array_key_exists($k, $this->cache);
		unset($this->cache[$k]);
		if ($this->persistent($group)) {
			try {
				return $this->redis->del($k) > 0 || $had;
			} catch (Exception $e) {
				$this->fail($e);
			}
		}
		return $had;
	}

	public function delete_multiple(array $keys, $group = 'default') {
		$out = array();
		foreach ($keys as $key) $out[$key] = $this->delete($key, $group);
		return $out;
	}

	public function incr($key, $offset = 1, $group = 'default') {
		$v = $this->get($key, $group, true, $found);
		if (!$found) return false;
		$v = max(0, (is_numeric($v) ? (int) $v : 0) + (int) $offset);
		$this->set($key, $v, $group);
		return $v;
	}

	public function decr($key, $offset = 1, $group = 'default') { return $this->incr($key, -(int) $offset, $group); }

	public function flush() {
		$this->cache = array();
		if ($this->redis !== null) {
			try {
				$this->redis->flushDb();
			} catch (Exception $e) {
				$this->fail($e);
			}
		}
		return true;
	}

	public function flush_runtime() {
		$this->cache = array();
		return true;
	}

	public function flush_group($group) {
		$prefix = $this->key('', $group);
		foreach (array_keys($this->cache) as $k) {
			if (strpos($k, $prefix) === 0) unset($this->cache[$k]);
		}
		if ($this->persistent($group)) {
			try {
				$it = null;
				$pattern = str_replace(array('\\', '*', '?', '[', ']'), array('\\\\', '\\*', '\\?', '\\[', '\\]'), $prefix) . '*';
				while (($keys = $this->redis->scan($it, $pattern, 500)) !== false) {
					if (!empty($keys)) $this->redis->del($keys);
					if ($it === 0) break;
				}
			} catch (Exception $e) {
				$this->fail($e);
			}
		}
		return true;
	}

	public function add_global_groups($groups) {
		foreach ((array) $groups as $g) $this->global_groups[$this->group($g)] = true;
	}

	public function add_non_persistent_groups($groups) {
		foreach ((array) $groups as $g) $this->non_persistent_groups[$this->group($g)] = true;
	}

	public function switch_to_blog($blog_id) {
		$this->blog_prefix = (function_exists('is_multisite') && is_multisite()) ? (int) $blog_id . ':' : '';
	}

	public function close() {
		if ($this->redis !== null) {
			try {
				$this->redis->close();
			} catch (Exception $e) {
				// ignore
			}
		}
		return true;
	}

	public function stats() {
		echo '<p><strong>Cache hits:</strong> ' . (int) $this->cache_hits . '<br /><strong>Cache misses:</strong> ' . (int) $this->cache_misses . '<br /><strong>Redis:</strong> ' . ($this->redis !== null ? 'connected' : 'not connected') . '</p>';
	}
}
