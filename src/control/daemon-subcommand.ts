/**
 * The word in a forwarder's argv that identifies it as one: the hidden subcommand `up` starts it with,
 * which bin/portpilot.js routes to the daemon's entry. A module of its own, so that bin loads nothing else.
 */
export const DAEMON_SUBCOMMAND = '__forward-daemon';
