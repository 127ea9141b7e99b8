#!/bin/sh
# Never start daemons from maintainer scripts inside image builds (pitfall 8).
exit 101
