//! Every fixed Redis error text ringkv replies with, once, and the constructors for the texts
//! that carry a client's words. Handlers name a text here (`err::SYNTAX`) and turn it into a
//! reply with `error`; a test below keeps each text unique, another keeps literal error texts
//! from reappearing elsewhere in the sources. Depends only on `protocol` (and on `shard` for the
//! OOM text, which the eviction layer owns).

use bytes::Bytes;

use super::shown;
use crate::protocol::Reply;

pub const ACL_SAVE_FAILED: &str =
    "ERR There was an error trying to save the ACLs. Please check the server logs for more information";
pub const AUTH_NOT_CONFIGURED: &str =
    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
pub const BAD_CLIENT_ID: &str = "ERR Invalid client ID";
pub const BAD_CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";
pub const BAD_END_ID: &str = "ERR invalid end ID for the interval";
pub const BAD_ENTRIESREAD: &str = "ERR value for ENTRIESREAD must be positive or -1";
pub const BAD_FIRST_DB: &str = "ERR invalid first DB index";
pub const BAD_LOG_LEVEL: &str = "ERR Invalid debug level.";
pub const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
pub const BAD_RESP_VERSION: &str = "ERR RESP version must be 2 or 3.";
pub const BAD_SECOND_DB: &str = "ERR invalid second DB index";
pub const BAD_START_ID: &str = "ERR invalid start ID for the interval";
pub const BAD_USERNAME: &str = "ERR Usernames can't contain spaces or null characters";
pub const BGSAVE_IN_PROGRESS: &str = "ERR Background save already in progress";
pub const BGSAVE_BUSY: &str = "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.";
pub const AOF_REWRITE_IN_PROGRESS: &str =
    "ERR Background append only file rewriting already in progress";
pub const AOF_REWRITE_FAILED: &str = "ERR Can't execute an AOF background rewriting. Please check the server logs for more information.";
pub const BITFIELD_OVERFLOW: &str = "ERR Invalid OVERFLOW type specified";
pub const BITFIELD_RO_GET_ONLY: &str = "ERR BITFIELD_RO only supports the GET subcommand";
pub const BITFIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
pub const BITOP_NOT_ONE_KEY: &str = "ERR BITOP NOT must be called with a single source key.";
pub const BIT_NOT_BINARY: &str = "ERR The bit argument must be 1 or 0.";
pub const BIT_NOT_INT: &str = "ERR bit is not an integer or out of range";
pub const BLOCKED_GROUP_GONE: &str =
    "NOGROUP the consumer group this client was blocked on no longer exists";
pub const BUSYGROUP: &str = "BUSYGROUP Consumer Group name already exists";
pub const BUSY_SCRIPT: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
pub const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";
pub const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";
pub const FN_NOT_FOUND: &str = "ERR Function not found";
pub const FN_LIBRARY_NOT_FOUND: &str = "ERR Library not found";
pub const FN_BAD_NUMKEYS: &str = "ERR Bad number of keys provided";
pub const FN_CODE_MISSING: &str = "ERR Function code is missing";
pub const FN_LIBRARYNAME_MISSING: &str = "ERR library name argument was not given";
pub const FN_RESTORE_POLICY: &str =
    "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.";
pub const FN_FLUSH_MODE: &str = "ERR FUNCTION FLUSH only supports SYNC|ASYNC option";
pub const FN_RO_WRITE_FLAG: &str =
    "ERR Can not execute a script with write flag using *_ro command.";
pub const FN_OOM: &str =
    "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'";
pub const FN_MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts.";
/// A script body that starts with `#!` and has no line feed.
pub const SHEBANG_INVALID: &str = "ERR Invalid script shebang";
pub const FN_NO_CLUSTER: &str = "ERR Can not run script on cluster, 'no-cluster' flag is set.";
pub const FN_MISSING_METADATA: &str = "Missing library metadata";
pub const FN_INVALID_METADATA: &str = "Invalid library metadata";
pub const FN_NAME_TWICE: &str = "Invalid metadata value, name argument was given multiple times";
pub const FN_NO_NAME: &str = "Library name was not given";
pub const FN_BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";
pub const FN_NONE_REGISTERED: &str = "No functions registered";
pub const FN_EXISTS_IN_LIBRARY: &str = "Function already exists in the library";
pub const FN_LOAD_TIMEOUT: &str = "ERR FUNCTION LOAD timeout";
pub const FN_REGISTER_OUTSIDE_LOAD: &str =
    "ERR redis.register_function can only be called on FUNCTION LOAD command";
pub const FN_REGISTER_ARITY: &str = "ERR wrong number of arguments to redis.register_function";
pub const FN_REGISTER_ONE_ARG: &str = "ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).";
pub const FN_REGISTER_KEY: &str =
    "ERR named argument key given to redis.register_function is not a string";
pub const FN_REGISTER_NAME_TYPE: &str =
    "ERR function_name argument given to redis.register_function must be a string";
pub const FN_REGISTER_DESC_TYPE: &str =
    "ERR description argument given to redis.register_function must be a string";
pub const FN_REGISTER_CALLBACK_TYPE: &str =
    "ERR callback argument given to redis.register_function must be a function";
pub const FN_REGISTER_FLAGS_TYPE: &str =
    "ERR flags argument to redis.register_function must be a table representing function flags";
pub const FN_REGISTER_UNKNOWN_FLAG: &str = "ERR unknown flag given";
pub const FN_REGISTER_UNKNOWN_ARG: &str = "ERR unknown argument given to redis.register_function";
pub const FN_REGISTER_NO_NAME: &str =
    "ERR redis.register_function must get a function name argument";
pub const FN_REGISTER_NO_CALLBACK: &str =
    "ERR redis.register_function must get a callback argument";
pub const FN_REGISTER_FIRST: &str =
    "ERR first argument to redis.register_function must be a string";
pub const FN_REGISTER_SECOND: &str =
    "ERR second argument to redis.register_function must be a function";
pub const CALL_OUTSIDE_SCRIPT: &str = "ERR redis.call is only available while a script runs";
pub const CLIENT_ID_NOT_POSITIVE: &str = "ERR client-id should be greater than 0";
pub const COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
pub const COUNT_NOT_ABOVE_ZERO: &str = "ERR COUNT must be > 0";
pub const COUNT_NOT_POSITIVE: &str = "ERR count should be greater than 0";
pub const DB_RANGE: &str = "ERR DB index is out of range";
pub const DECR_OVERFLOW: &str = "ERR decrement would overflow";
pub const DEFAULT_USER_REMOVAL: &str = "ERR The 'default' user cannot be removed";
pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
/// Redis's bare `-ERR` (a failed SAVE: the reason is in the log).
pub const ERR: &str = "ERR";
pub const ENGINE_GONE: &str = "ERR Lua engine unavailable";
pub const ENTRIES_ADDED_NEGATIVE: &str = "ERR entries_added must be positive";
pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
pub const EXECABORT_OOM: &str =
    "EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.";
pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
pub const GENPASS_BITS: &str =
    "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096";
pub const GETKEYS_BAD_ARGS: &str = "ERR Invalid arguments specified for command";
pub const GETKEYS_BAD_ARITY: &str = "ERR Invalid number of arguments specified for command";
pub const GETKEYS_BAD_COMMAND: &str = "ERR Invalid command specified";
pub const GETKEYS_NO_KEYS: &str = "ERR The command has no key arguments";
pub const GT_LT: &str = "ERR GT and LT options at the same time are not compatible";
pub const GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
pub const GEO_ANY_COUNT: &str = "ERR the ANY argument requires COUNT argument";
pub const GEO_NEED_HEIGHT: &str = "ERR need numeric height";
pub const GEO_NEED_RADIUS: &str = "ERR need numeric radius";
pub const GEO_NEED_WIDTH: &str = "ERR need numeric width";
pub const GEO_NEGATIVE_BOX: &str = "ERR height or width cannot be negative";
pub const GEO_NEGATIVE_RADIUS: &str = "ERR radius cannot be negative";
pub const GEO_NO_MEMBER: &str = "ERR could not decode requested zset member";
pub const GEO_UNIT: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";
pub const HASH_NOT_FLOAT: &str = "ERR hash value is not a float";
pub const HASH_NOT_INT: &str = "ERR hash value is not an integer";
pub const HELLO_NOAUTH: &str =
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";
pub const HLL_CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";
pub const HLL_NOT_SPARSE: &str = "ERR HLL encoding is not sparse";
pub const HLL_TEST_DISAGREE: &str = "TESTFAILED dense/sparse disagree";
pub const HLL_TEST_NOT_SPARSE: &str = "TESTFAILED sparse encoding not used";
pub const HLL_WRONGTYPE: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
pub const INCR_NAN: &str = "ERR increment would produce NaN or Infinity";
pub const INCR_PAIR: &str = "ERR INCR option supports a single increment-element pair";
pub const INDEX_RANGE: &str = "ERR index out of range";
pub const INT32_RANGE: &str =
    "ERR value is out of range, value must between -2147483648 and 2147483647";
pub const INVALID_CURSOR: &str = "ERR invalid cursor";
pub const INVALID_STREAM_ID: &str = "ERR Invalid stream ID specified as stream command argument";
pub const LCS_LEN_AND_IDX: &str =
    "ERR If you want both the length and indexes, please just use IDX.";
pub const LCS_NOT_STRINGS: &str = "ERR The specified keys must contain string values";
pub const LCS_TOO_BIG: &str =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
pub const DEBUG_RELOAD_OPTION: &str =
    "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.";
pub const DEBUG_RELOAD_LOAD: &str = "ERR Error trying to load the RDB dump";
pub const DEBUG_LOADAOF: &str = "ERR Error trying to load the AOF files";
pub const DEBUG_PROTOCOL_TYPE: &str = "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false";
pub const DEBUG_PROTOCOL_RESP2: &str = "ERR RESP2 is not supported by this command";
pub const DEBUG_PACKED_THRESHOLD: &str =
    "ERR argument must be a memory value bigger than 1 and smaller than 4gb";
pub const NOT_LISTPACK: &str = "ERR Not a listpack encoded object.";
pub const NOT_QUICKLIST: &str = "ERR Not a quicklist encoded object.";
pub const DEBUG_NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
pub const LFU_SELECTED: &str =
    "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
pub const LFU_NOT_SELECTED: &str =
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
pub const LIMIT_NEEDS_BY: &str =
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
pub const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";
pub const LIMIT_WITHOUT_STRATEGY: &str =
    "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy";
pub const LIMIT_WITHOUT_TILDE: &str =
    "ERR syntax error, LIMIT cannot be used without the special ~ option";
pub const LOG_ARITY: &str = "ERR redis.log() requires two arguments or more.";
pub const LOG_LEVEL_NOT_NUMBER: &str = "ERR First argument must be a number (log level).";
/// getRangeLongFromObjectOrReply's text for the range -LONG_MAX..=LONG_MAX.
pub const LONG_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
pub const LUA_ARITY: &str = "ERR wrong number of arguments";
pub const LUA_STACK_LIMIT: &str = "ERR reached lua stack limit";
pub const MAXLEN_AND_MINID: &str =
    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
pub const MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";
pub const MULTI_NESTED: &str = "ERR MULTI calls can not be nested";
pub const NAN_OR_INFINITY: &str = "ERR value is NaN or Infinity";
pub const NAN_SCORE: &str = "ERR resulting score is not a number (NaN)";
pub const CLUSTER_DISABLED: &str = "ERR This instance has cluster support disabled";
pub const CLUSTER_BAD_SLOT: &str = "ERR Invalid or out of range slot";
pub const CLUSTER_INVALID_SLOT: &str = "ERR Invalid slot";
pub const CLUSTER_BAD_SLOT_OR_COUNT: &str = "ERR Invalid slot or number of keys";
pub const CLUSTER_FLUSHSLOTS_NOT_EMPTY: &str =
    "ERR DB must be empty to perform CLUSTER FLUSHSLOTS.";
pub const CLUSTER_FORGET_MYSELF: &str = "ERR I tried hard but I can't forget myself...";
pub const CLUSTER_FORGET_MASTER: &str = "ERR Can't forget my master!";
pub const CLUSTER_NOT_MASTER: &str = "ERR The specified node is not a master";
pub const CLUSTER_REPLICATE_MYSELF: &str = "ERR Can't replicate myself";
pub const CLUSTER_REPLICATE_REPLICA: &str = "ERR I can only replicate a master, not a replica.";
pub const CLUSTER_REPLICATE_NOT_EMPTY: &str =
    "ERR To set a master the node must be empty and without assigned slots.";
pub const CLUSTER_RESET_NOT_EMPTY: &str =
    "ERR CLUSTER RESET can't be called with master nodes containing keys";
pub const CLUSTER_EPOCH_OTHERS: &str =
    "ERR The user can assign a config epoch only when the node does not know any other node.";
pub const CLUSTER_EPOCH_NONZERO: &str = "ERR Node config epoch is already non-zero";
pub const CLUSTER_SETSLOT_REPLICA: &str = "ERR Please use SETSLOT only with masters.";
pub const CLUSTER_SETSLOT_SYNTAX: &str =
    "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP";
pub const CLUSTER_TARGET_NOT_MASTER: &str = "ERR Target node is not a master";
pub const CLUSTER_FAILOVER_MASTER: &str = "ERR You should send CLUSTER FAILOVER to a replica";
pub const CLUSTER_FAILOVER_NO_MASTER: &str = "ERR I'm a replica but my master is unknown to me";
pub const CLUSTER_FAILOVER_MASTER_DOWN: &str =
    "ERR Master is down or failed, please use CLUSTER FAILOVER FORCE";
pub const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";
pub const CLUSTERDOWN: &str = "CLUSTERDOWN The cluster is down";
pub const CLUSTERDOWN_RO: &str = "CLUSTERDOWN The cluster is down and only accepts read commands";
pub const CLUSTERDOWN_UNBOUND: &str = "CLUSTERDOWN Hash slot not served";
pub const TRYAGAIN: &str = "TRYAGAIN Multiple keys request during rehashing of slot";
pub const SELECT_IN_CLUSTER: &str = "ERR SELECT is not allowed in cluster mode";
pub const MOVE_IN_CLUSTER: &str = "ERR MOVE is not allowed in cluster mode";
pub const SWAPDB_IN_CLUSTER: &str = "ERR SWAPDB is not allowed in cluster mode";
pub const COPY_DB_IN_CLUSTER: &str =
    "ERR Copying to another database is not allowed in cluster mode";
pub const SCRIPT_NON_LOCAL_KEY: &str =
    "ERR Script attempted to access a non local key in a cluster node";
pub const SCRIPT_CLUSTER_DOWN: &str =
    "ERR Script attempted to execute a command while the cluster is down";
pub const SCRIPT_CLUSTER_DOWN_RO: &str =
    "ERR Script attempted to execute a write command while the cluster is down and readonly";
pub const SCRIPT_CROSS_SLOT: &str =
    "ERR Script attempted to access keys that do not hash to the same slot";
pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const NOPERM_CHANNEL: &str =
    "NOPERM this user has no permissions to access one of the channels used as arguments";
pub const NOPERM_KEY: &str =
    "NOPERM this user has no permissions to access one of the keys used as arguments";
pub const NOPROTO: &str = "NOPROTO unsupported protocol version";
pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
pub const NOT_INT: &str = "ERR value is not an integer or out of range";
pub const NOT_IN_MULTI: &str = "ERR Command not allowed inside a transaction";
pub const READONLY_REPLICA: &str = "READONLY You can't write against a read only replica.";
pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";
pub const MASTERDOWN: &str =
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
/// A master's (Redis 4's) answer to PING before AUTH: the handshake goes on to AUTH.
pub const OPERATION_NOT_PERMITTED: &str = "ERR operation not permitted";
pub const INVALID_MASTER_PORT: &str = "ERR Invalid master port";
pub const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";
pub const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
pub const NO_ACL_FILE: &str =
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";
pub const NO_CLIENT: &str = "ERR No such client";
pub const NO_CONFIG_FILE: &str = "ERR The server is running without a config file";
pub const NO_KEY: &str = "ERR no such key";
pub const NO_LEX_SCORES: &str =
    "ERR syntax error, WITHSCORES not supported in combination with BYLEX";
pub const NO_RANDOM: &str = "ERR no random source";
pub const NO_SHUTDOWN: &str = "ERR No shutdown in progress.";
pub const NUMKEYS: &str = "ERR numkeys should be greater than 0";
pub const NUMKEYS_NEGATIVE: &str = "ERR Number of keys can't be negative";
pub const NUMKEYS_OVER_ARGS: &str = "ERR Number of keys can't be greater than number of args";
pub const NX_XX_GT_LT: &str = "ERR NX and XX, GT or LT options at the same time are not compatible";
pub const OFFSET_RANGE: &str = "ERR offset is out of range";
pub const OUT_OF_RANGE: &str = "ERR value is out of range";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const PFDEBUG_NO_KEY: &str = "ERR The specified key does not exist";
pub const PROTO_NOT_INT: &str = "ERR Protocol version is not an integer or out of range";
pub const PUBSUB_DOWN: &str = "ERR pub/sub is not running";
pub const RANK_ZERO: &str =
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
pub const SCRIPT_ARITY: &str = "ERR Wrong number of args calling Redis command from script";
pub const SCRIPT_BAD_ARG_TYPE: &str =
    "ERR Lua redis lib command arguments must be strings or integers";
pub const SCRIPT_DEBUG: &str = "ERR SCRIPT DEBUG is not supported";
pub const SCRIPT_DENIED_COMMAND: &str = "ERR This Redis command is not allowed from script";
pub const SCRIPT_FLUSH_MODE: &str = "ERR SCRIPT FLUSH only support SYNC|ASYNC option";
pub const SCRIPT_KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";
pub const ACL_CHECK_INVALID: &str = "ERR Invalid command passed to redis.acl_check_cmd()";
pub const SET_REPL_ARITY: &str = "ERR redis.set_repl() requires two arguments.";
pub const SET_REPL_FLAGS: &str =
    "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.";
pub const SCRIPT_NO_ARGS: &str = "ERR Please specify at least one argument for this redis lib call";
pub const SCRIPT_READ_ONLY: &str = "ERR Write commands are not allowed from read-only scripts.";
pub const SCRIPT_UNKNOWN_COMMAND: &str = "ERR Unknown Redis command called from script";
pub const SETRESP_ARITY: &str = "ERR redis.setresp() requires one argument.";
pub const SHARD_GONE: &str = "ERR shard unavailable (server shutting down)";
pub const SHUTDOWN_FAILED: &str = "ERR Errors trying to SHUTDOWN. Check logs.";
pub const SORT_NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";
pub const SORT_STORE_NO_LIST: &str = "ERR SORT STORE needs the list type, not built yet";
pub const STREAM_EXHAUSTED: &str =
    "ERR The stream has exhausted the last possible ID, unable to add more items";
pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const SYNTAX: &str = "ERR syntax error";
pub const TRACKING_ONE_REDIRECT: &str = "ERR A client can only redirect to a single other client";
pub const TRACKING_NO_REDIRECT_CLIENT: &str =
    "ERR The client ID you want redirect to does not exist";
pub const TRACKING_PREFIX_NEEDS_BCAST: &str = "ERR PREFIX option requires BCAST mode to be enabled";
pub const TRACKING_BCAST_SWITCH: &str = "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.";
pub const TRACKING_OPT_BCAST: &str = "ERR OPTIN and OPTOUT are not compatible with BCAST";
pub const TRACKING_OPTIN_OPTOUT: &str = "ERR You can't specify both OPTIN mode and OPTOUT mode";
pub const TRACKING_OPT_SWITCH: &str = "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.";
pub const CACHING_NOT_TRACKING: &str = "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled";
pub const CACHING_YES_NEEDS_OPTIN: &str =
    "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.";
pub const CACHING_NO_NEEDS_OPTOUT: &str =
    "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
pub const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
pub const TIMEOUT_NOT_INT: &str = "ERR timeout is not an integer or out of range";
pub const TIMEOUT_RANGE: &str = "ERR timeout is out of range";
pub const UNBLOCKED: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
pub const UNBLOCKED_BY_ROLE_CHANGE: &str =
    "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)";
pub const UNBLOCK_REASON: &str = "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR";
pub const PAUSE_MODE: &str = "ERR CLIENT PAUSE mode must be WRITE or ALL";
/// A monitor is a replica for Redis: it may not run commands that touch keys.
pub const REPLICA_KEYSPACE: &str = "ERR Replica can't interact with the keyspace";
pub const MONITOR_DENY_BLOCKING: &str = "ERR MONITOR isn't allowed for DENY BLOCKING client";
pub const WATCH_IN_MULTI: &str = "ERR WATCH inside MULTI is not allowed";
pub const WEIGHT_NOT_FLOAT: &str = "ERR weight value is not a float";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const XADD_NOT_GREATER: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";
pub const XADD_ZERO_ID: &str = "ERR The ID specified in XADD must be greater than 0-0";
pub const XGROUP_NEEDS_KEY: &str =
    "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";
pub const XREADGROUP_DOLLAR: &str =
    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.";
pub const XREADGROUP_NO_GROUP: &str = "ERR Missing GROUP option for XREADGROUP";
pub const XREAD_GROUP: &str =
    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.";
pub const XREAD_GT_ID: &str =
    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.";
pub const XREAD_NOACK: &str =
    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.";
pub const XSETID_ADDED_BELOW_LEN: &str =
    "ERR The entries_added specified in XSETID is smaller than the target stream length";
pub const XSETID_BELOW_DELETED: &str =
    "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id";
pub const XSETID_BELOW_GIVEN_DELETED: &str =
    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id";
pub const XSETID_BELOW_TOP: &str =
    "ERR The ID specified in XSETID is smaller than the target stream top item";
pub const XTRIM_LIMIT_NEGATIVE: &str = "ERR The LIMIT argument must be >= 0.";
pub const XTRIM_MAXLEN_NEGATIVE: &str = "ERR The MAXLEN argument must be >= 0.";
pub const XTRIM_NO_STRATEGY: &str =
    "ERR syntax error, XTRIM must be called with a trimming strategy";
pub const XX_NX: &str = "ERR XX and NX options at the same time are not compatible";

/// The eviction layer's text: the shard answers OOM itself, below the command layer.
pub const OOM: &str = crate::shard::evict::OOM;

/// ZUNION, ZINTER, ZDIFF (+STORE) and ZINTERCARD refusing a numkeys below 1.
pub fn no_input_key(command: &str) -> Reply {
    Reply::error_owned(format!(
        "ERR at least 1 input key is needed for '{command}' command"
    ))
}

/// RESTORE: a payload whose footer (version, CRC-64) does not check out.
pub const DUMP_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
/// RESTORE: a payload that checks out but does not hold a value.
pub const BAD_DATA_FORMAT: &str = "ERR Bad data format";
pub const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
pub const INVALID_TTL: &str = "ERR Invalid TTL value, must be >= 0";
pub const INVALID_IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
pub const INVALID_FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";
pub const MIGRATE_KEYS_EMPTY: &str =
    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string";
pub const MIGRATE_CONNECT: &str = "IOERR error or timeout connecting to the client";
pub const MIGRATE_WRITE: &str = "IOERR error or timeout writing to target instance";
pub const MIGRATE_READ: &str = "IOERR error or timeout reading to target instance";

/// MIGRATE: the target refused AUTH, SELECT or a RESTORE (`reply` without its `-`).
pub fn migrate_target(reply: &str) -> Reply {
    Reply::error_owned(format!("ERR Target instance replied with error: {reply}"))
}

/// EXPIRE's family and SET/GETEX refusing an expiry out of range.
pub fn invalid_expire(command: &str) -> Reply {
    Reply::error_owned(format!("ERR invalid expire time in '{command}' command"))
}

/// XINFO CONSUMERS and XGROUP naming a group `key`'s stream does not have.
pub fn no_consumer_group(group: &[u8], key: &[u8]) -> Reply {
    Reply::error_owned(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        shown(group),
        shown(key)
    ))
}

/// XPENDING, XCLAIM and the commands changing a group (XACK ...) naming a missing key or group.
pub fn no_key_or_group(key: &[u8], group: &[u8]) -> Reply {
    Reply::error_owned(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        shown(key),
        shown(group)
    ))
}

/// A container (CLIENT, CONFIG...) called with a subcommand it does not have; `items` is
/// the call, container name first.
pub fn unknown_subcommand(items: &[Bytes]) -> Reply {
    let (container, sub) = container_and_sub(items);
    Reply::error_owned(format!(
        "ERR unknown subcommand '{sub}'. Try {container} HELP."
    ))
}

/// A subcommand whose own grammar refuses the call (Redis's addReplySubcommandSyntaxError);
/// `items` is the call, container name first.
pub fn subcommand_syntax(items: &[Bytes]) -> Reply {
    let (container, sub) = container_and_sub(items);
    Reply::error_owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {container} HELP."
    ))
}

/// The container's name as sent, upper-cased, and the subcommand as sent (at most 128 bytes),
/// as Redis shows them.
fn container_and_sub(items: &[Bytes]) -> (String, String) {
    let container = items
        .first()
        .map_or(String::new(), |c| shown(c).to_ascii_uppercase());
    let sub = items.get(1).map_or(&b""[..], |s| &s[..s.len().min(128)]);
    (container, shown(sub))
}

/// CLIENT SETINFO naming an attribute other than LIB-NAME/LIB-VER.
pub fn unrecognized_option(option: &[u8]) -> Reply {
    Reply::error_owned(format!("ERR Unrecognized option '{}'", shown(option)))
}

/// CLIENT SETINFO with a value holding spaces or special characters.
pub fn client_info_chars(attr: &[u8]) -> Reply {
    Reply::error_owned(format!(
        "ERR {} cannot contain spaces, newlines or special characters.",
        shown(attr)
    ))
}

/// SYNC/PSYNC sent to a replica (chained replication is not served).
pub const SYNC_NO_MASTER_LINK: &str = "NOMASTERLINK Can't SYNC while not connected with my master";
/// PSYNC after REPLCONF rdb-filter-only without `capa eof`.
pub const FILTERED_REPLICA_NEEDS_EOF: &str = "ERR Filtered replica requires EOF capability";
/// WAIT on a replica.
pub const WAIT_ON_REPLICA: &str = "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.";
/// SYNC/PSYNC while this server runs a FAILOVER.
pub const SYNC_WHILE_FAILING_OVER: &str = "NOMASTERLINK Can't SYNC while failing over";
/// REPLICAOF while this server runs a FAILOVER.
pub const REPLICAOF_WHILE_FAILING_OVER: &str = "ERR REPLICAOF not allowed while failing over.";
pub const REPLICAOF_IN_CLUSTER: &str = "ERR REPLICAOF not allowed in cluster mode.";
pub const FAILOVER_IN_CLUSTER: &str =
    "ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead.";
/// PSYNC ... FAILOVER sent to a master.
pub const PSYNC_FAILOVER_TO_MASTER: &str = "ERR PSYNC FAILOVER can't be sent to a master.";
/// PSYNC ... FAILOVER naming another history than this replica's.
pub const PSYNC_FAILOVER_REPLID: &str = "ERR PSYNC FAILOVER replid must match my replid.";
/// FAILOVER ABORT without a failover.
pub const NO_FAILOVER: &str = "ERR No failover in progress.";
pub const FAILOVER_TIMEOUT: &str = "ERR FAILOVER timeout must be greater than 0";
pub const FAILOVER_RUNNING: &str = "ERR FAILOVER already in progress.";
pub const FAILOVER_ON_REPLICA: &str = "ERR FAILOVER is not valid when server is a replica.";
pub const FAILOVER_NO_REPLICAS: &str = "ERR FAILOVER requires connected replicas.";
pub const FAILOVER_FORCE: &str =
    "ERR FAILOVER with force option requires both a timeout and target HOST and IP.";
pub const FAILOVER_NOT_A_REPLICA: &str = "ERR FAILOVER target HOST and PORT is not a replica.";
pub const FAILOVER_NOT_ONLINE: &str = "ERR FAILOVER target replica is not online.";
/// A write refused by `min-replicas-to-write`.
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";

/// REPLCONF with an option Redis does not know.
pub fn replconf_unknown_option(option: &[u8]) -> Reply {
    Reply::error_owned(format!(
        "ERR Unrecognized REPLCONF option: {}",
        shown(option)
    ))
}

/// REPLCONF ip-address of NET_HOST_STR_LEN bytes or more.
pub fn replconf_ip_too_long(len: usize) -> Reply {
    Reply::error_owned(format!(
        "ERR REPLCONF ip-address provided by replica instance is too long: {len} bytes"
    ))
}

/// REPLCONF rdb-filter-only with a filter other than `functions`.
pub fn rdb_filter_unsupported(filter: &str) -> Reply {
    Reply::error_owned(format!("ERR Unsupported rdb-filter-only option: {filter}"))
}

/// An integer outside `min..=max` (getRangeLongFromObjectOrReply without a message).
pub fn value_between(min: i64, max: i64) -> Reply {
    Reply::error_owned(format!(
        "ERR value is out of range, value must between {min} and {max}"
    ))
}

/// CLIENT LIST/KILL TYPE with an unknown type.
pub fn unknown_client_type(kind: &[u8]) -> Reply {
    Reply::error_owned(format!("ERR Unknown client type '{}'", shown(kind)))
}

/// HELLO with an option it does not know (or one missing its values).
/// A BCAST prefix that overlaps one the client registered already (`existing`) or another
/// of the same command (`existing` false).
pub fn prefix_overlap(prefix: &[u8], other: &[u8], existing: bool) -> Reply {
    let what = if existing {
        "an existing prefix"
    } else {
        "another provided prefix"
    };
    Reply::error_owned(format!(
        "ERR Prefix '{}' overlaps with {what} '{}'. Prefixes for a single client must not overlap.",
        shown(prefix),
        shown(other)
    ))
}

pub fn hello_option(option: &[u8]) -> Reply {
    Reply::error_owned(format!(
        "ERR Syntax error in HELLO option '{}'",
        shown(option)
    ))
}

/// An ACL user may not run `command`.
pub fn noperm_command(command: &str) -> Reply {
    Reply::error_owned(format!(
        "NOPERM this user has no permissions to run the '{command}' command"
    ))
}

/// ACL DRYRUN's answer when the user may not run `command` (a bulk string, not an error).
pub fn dryrun_command(command: &str) -> String {
    format!("This user has no permissions to run the '{command}' command")
}

/// ACL DRYRUN's answer when the user may not access `key`.
pub fn dryrun_key(key: &str) -> String {
    format!("This user has no permissions to access the '{key}' key")
}

/// ACL DRYRUN's answer when the user may not access `channel`.
pub fn dryrun_channel(channel: &str) -> String {
    format!("This user has no permissions to access the '{channel}' channel")
}

/// A script's call its user may not make (`reason` as ACL LOG words it), as Redis's
/// scriptVerifyACL with getAclErrorMessage.
pub fn script_noperm(reason: &str) -> Reply {
    Reply::Error(std::borrow::Cow::Borrowed(match reason {
        "key" => "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments",
        "channel" => "ERR The user executing the script can't publish to the channel mentioned in the command",
        _ => "ERR The user executing the script can't run this command or subcommand",
    }))
}

/// ACL SETUSER with a rule it cannot apply, and why.
pub fn acl_modifier(op: &[u8], why: &str) -> Reply {
    Reply::error_owned(format!(
        "ERR Error in ACL SETUSER modifier '{}': {why}",
        shown(op)
    ))
}

/// ACL CAT naming a category that does not exist.
pub fn unknown_category(name: &[u8]) -> Reply {
    let name = shown(&name[..name.len().min(128)]);
    Reply::error_owned(format!("ERR Unknown category '{name}'"))
}

/// ACL DRYRUN naming a user that does not exist.
pub fn no_such_user(name: &[u8]) -> Reply {
    Reply::error_owned(format!("ERR User '{}' not found", shown(name)))
}

/// CLIENT KILL USER naming a user that does not exist.
pub fn client_kill_no_such_user(name: &[u8]) -> Reply {
    Reply::error_owned(format!("ERR No such user '{}'", shown(name)))
}

/// ACL DRYRUN naming a command that does not exist.
pub fn no_such_command(name: &[u8]) -> Reply {
    Reply::error_owned(format!("ERR Command '{}' not found", shown(name)))
}

/// A text from elsewhere (the Lua runtime, the ACL file loader) as a plain error.
pub fn plain(text: &str) -> Reply {
    Reply::error_owned(plain_text(text))
}

/// `plain`'s text, for a caller that builds its own reply (a Lua error table).
pub fn plain_text(text: &str) -> String {
    format!("ERR {text}")
}

/// A script that does not compile, with the compiler's message.
pub fn script_compile(message: &str) -> Reply {
    Reply::error_owned(format!(
        "ERR Error compiling script (new function): {message}"
    ))
}

/// A script that failed outside its own error handling.
pub fn script_failed(why: &str) -> Reply {
    Reply::error_owned(format!("ERR Error running script: {why}"))
}

/// A script that raised something other than an error table.
pub fn script_failed_value(sha: &str, value: &str) -> Reply {
    Reply::error_owned(format!("ERR Error running script {sha}, {value}"))
}

/// A `#!` line naming an engine other than lua.
pub fn shebang_engine(engine: &str) -> Reply {
    Reply::error_owned(format!("ERR Unexpected engine in script shebang: {engine}"))
}

/// XREAD or XREADGROUP (as the script spelled it) with BLOCK, called from a script.
pub fn stream_block_in_script(command: &[u8]) -> Reply {
    let command = String::from_utf8_lossy(command);
    Reply::error_owned(format!(
        "ERR {command} command is not allowed with BLOCK option from scripts"
    ))
}

/// A `#!lua` option other than `flags=`.
pub fn shebang_option(word: &str) -> Reply {
    Reply::error_owned(format!("ERR Unknown lua shebang option: {word}"))
}

/// A `flags=` entry of a `#!lua` line that Redis does not know.
pub fn shebang_flag(flag: &str) -> Reply {
    Reply::error_owned(format!("ERR Unexpected flag in script shebang: {flag}"))
}

/// EXEC of a transaction that a refused command discarded, with that command's error.
pub fn execabort(text: &str) -> Reply {
    Reply::error_owned(format!(
        "EXECABORT Transaction discarded because of: {}",
        text.strip_prefix("ERR ").unwrap_or(text)
    ))
}

/// CONFIG SET refusing a value, and why.
pub fn config_set_failed(name: &str, why: &str) -> Reply {
    Reply::error_owned(format!(
        "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
    ))
}

/// SLOWLOG GET with a count below -1 or not a number.
pub const SLOWLOG_COUNT: &str = "ERR count should be greater than or equal to -1";

/// LATENCY GRAPH of an event without samples.
pub fn latency_no_samples(event: &str) -> Reply {
    Reply::error_owned(format!("ERR No samples available for event '{event}'"))
}

/// CONFIG REWRITE that could not write the file.
pub fn config_rewrite_failed(why: &str) -> Reply {
    Reply::error_owned(format!("ERR {why}"))
}

/// CONFIG SET naming an option it does not know.
pub fn config_set_unknown(name: &str) -> Reply {
    Reply::error_owned(format!(
        "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
    ))
}

/// CONFIG SET port: the new listeners could not be bound (the reason is logged).
pub const CONFIG_PORT_LISTEN: &str = "Unable to listen on this port. Check server logs.";

/// CONFIG SET bind: the new addresses could not be bound (the reason is logged).
pub const CONFIG_BIND_FAILED: &str = "Failed to bind to specified addresses.";

/// CONFIG SET of an option fixed at start.
pub const CONFIG_IMMUTABLE: &str = "can't set immutable config";
pub const CONFIG_PROTECTED: &str = "can't set protected config";

/// DEBUG CONFIG-REWRITE-FORCE-ALL that could not write the file.
pub fn debug_rewrite_failed(why: &str) -> Reply {
    Reply::error_owned(format!("ERR CONFIG-REWRITE-FORCE-ALL failed: {why}"))
}

/// A command other than the subscription ones from a RESP2 client in subscribed mode.
pub fn subscribed_context(name: &str) -> Reply {
    Reply::error_owned(format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    ))
}

/// A command name the table does not have, with its first arguments as Redis shows them.
pub fn unknown_command(name: &str, shown_args: &str) -> Reply {
    Reply::error_owned(format!(
        "ERR unknown command '{name}', with args beginning with: {shown_args}"
    ))
}

/// XREAD/XREADGROUP with fewer IDs than keys after STREAMS.
pub fn unbalanced_streams(command: &str, symbol: char) -> Reply {
    Reply::error_owned(format!(
        "ERR Unbalanced {command} list of streams: for each stream key an ID or '{symbol}' must be specified."
    ))
}

/// XREADGROUP naming a key or group that does not exist.
pub fn xreadgroup_no_group(key: &[u8], group: &[u8]) -> Reply {
    Reply::error_owned(format!(
        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
        shown(key),
        shown(group)
    ))
}

/// XCLAIM with a bad IDLE/TIME/RETRYCOUNT value.
pub fn xclaim_bad_value(option: &str) -> Reply {
    Reply::error_owned(format!("ERR Invalid {option} option argument for XCLAIM"))
}

/// XCLAIM with an option it does not know.
pub fn xclaim_option(option: &[u8]) -> Reply {
    Reply::error_owned(format!(
        "ERR Unrecognized XCLAIM option '{}'",
        shown(option)
    ))
}

/// XCLAIM/XAUTOCLAIM with a min-idle-time that is not a number.
pub fn min_idle_time(command: &str) -> Reply {
    Reply::error_owned(format!("ERR Invalid min-idle-time argument for {command}"))
}

/// EXPIRE's family with an option it does not know.
pub fn unsupported_option(word: &[u8]) -> Reply {
    Reply::error_owned(format!("ERR Unsupported option {}", shown(word)))
}

/// FUNCTION LIST, FUNCTION LOAD: an argument they do not know (CR and LF shown as spaces).
pub fn function_unknown_argument(word: &[u8], load: bool) -> Reply {
    let word = shown(word).replace(['\r', '\n'], " ");
    Reply::error_owned(match load {
        true => format!("ERR Unknown option given: {word}"),
        false => format!("ERR Unknown argument {word}"),
    })
}

/// A library's code failed while it registered its functions (`text` has its own code).
pub fn function_register(text: &str) -> String {
    format!("Error registering functions: {text}")
}

/// A library's code does not compile.
pub fn function_compile(message: &str) -> String {
    format!("Error compiling function: {message}")
}

/// A library's shebang names an engine other than Lua.
pub fn function_engine(engine: &str) -> String {
    format!("Engine '{engine}' not found")
}

/// FUNCTION LOAD of a library that exists, without REPLACE.
pub fn function_library_exists_quoted(name: &str) -> String {
    format!("Library '{name}' already exists")
}

/// FUNCTION RESTORE (APPEND) of a library that exists.
pub fn function_library_exists(name: &str) -> String {
    format!("Library {name} already exists")
}

/// A library registers a function another library has.
pub fn function_exists(name: &str) -> String {
    format!("Function {name} already exists")
}

/// A shebang option other than `name=...`.
pub fn function_metadata_value(part: &str) -> String {
    format!("Invalid metadata value given: {part}")
}

/// A longitude/latitude pair outside what a geohash covers.
pub fn geo_bad_pair(lon: f64, lat: f64) -> Reply {
    Reply::error_owned(format!(
        "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
    ))
}

/// A storing GEO search asked for WITHDIST, WITHHASH or WITHCOORD.
pub fn geo_store_with(geosearchstore: bool) -> Reply {
    let what = if geosearchstore {
        "GEOSEARCHSTORE"
    } else {
        "STORE option in GEORADIUS"
    };
    Reply::error_owned(format!(
        "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
    ))
}

/// GEOSEARCH(STORE) without FROMMEMBER or FROMLONLAT; `name` as sent.
pub fn geo_need_from(name: &[u8]) -> Reply {
    Reply::error_owned(format!(
        "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
        shown(name)
    ))
}

/// GEOSEARCH(STORE) without BYRADIUS or BYBOX; `name` as sent.
pub fn geo_need_by(name: &[u8]) -> Reply {
    Reply::error_owned(format!(
        "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
        shown(name)
    ))
}

/// PFDEBUG with a subcommand it does not know.
pub fn unknown_pfdebug(sub: &[u8]) -> Reply {
    Reply::error_owned(format!("ERR Unknown PFDEBUG subcommand '{}'", shown(sub)))
}

/// PFSELFTEST: a dense register read back differently.
pub fn hll_register_test(register: usize, expected: u8, got: u8) -> Reply {
    Reply::error_owned(format!(
        "TESTFAILED Register {register} should be {expected} but is {got}"
    ))
}

/// PFSELFTEST: an estimate out of the error bound.
pub fn hll_error_test(card: u64, abserr: u64) -> Reply {
    Reply::error_owned(format!(
        "TESTFAILED Too big error. card:{card} abserr:{abserr}"
    ))
}

/// `ERR wrong number of arguments for 'name' command`.
/// The cluster's texts that name a slot, a node or an argument.
pub fn slot_unassigned(slot: usize) -> Reply {
    Reply::error_owned(format!("ERR Slot {slot} is already unassigned"))
}

pub fn slot_busy(slot: usize) -> Reply {
    Reply::error_owned(format!("ERR Slot {slot} is already busy"))
}

pub fn slot_repeated(slot: usize) -> Reply {
    Reply::error_owned(format!("ERR Slot {slot} specified multiple times"))
}

pub fn slot_range_order(start: usize, end: usize) -> Reply {
    Reply::error_owned(format!(
        "ERR start slot number {start} is greater than end slot number {end}"
    ))
}

pub fn unknown_node(id: &str) -> Reply {
    Reply::error_owned(format!("ERR Unknown node {id}"))
}

/// DEBUG CLUSTERLINK on a server that is not a cluster node.
pub const DEBUG_CLUSTER_ONLY: &str =
    "ERR Debug option only available for cluster mode enabled setup!";

/// DEBUG CLUSTERLINK KILL with a direction other than to, from or all.
pub fn unknown_direction(direction: &str) -> Reply {
    Reply::error_owned(format!("ERR Unknown direction {direction}"))
}

pub fn node_not_known(id: &str) -> Reply {
    Reply::error_owned(format!("ERR I don't know about node {id}"))
}

pub fn bad_base_port(port: &str) -> Reply {
    Reply::error_owned(format!("ERR Invalid TCP base port specified: {port}"))
}

pub fn bad_bus_port(port: &str) -> Reply {
    Reply::error_owned(format!("ERR Invalid TCP bus port specified: {port}"))
}

pub fn bad_node_address(ip: &str, port: &str) -> Reply {
    Reply::error_owned(format!("ERR Invalid node address specified: {ip}:{port}"))
}

pub fn cluster_save_failed(why: &str) -> Reply {
    Reply::error_owned(format!("ERR error saving the cluster node config: {why}"))
}

pub fn bad_config_epoch(epoch: i64) -> Reply {
    Reply::error_owned(format!("ERR Invalid config epoch specified: {epoch}"))
}

pub fn not_slot_owner(slot: usize) -> Reply {
    Reply::error_owned(format!("ERR I'm not the owner of hash slot {slot}"))
}

pub fn already_slot_owner(slot: usize) -> Reply {
    Reply::error_owned(format!("ERR I'm already the owner of hash slot {slot}"))
}

pub fn slot_keys_held(slot: usize) -> Reply {
    Reply::error_owned(format!(
        "ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
    ))
}

pub fn arity(name: &str) -> Reply {
    Reply::error_owned(format!(
        "ERR wrong number of arguments for '{}' command",
        name.to_ascii_lowercase()
    ))
}

/// DEBUG ERROR's reply: the client's text as the whole error line (its CR and LF become
/// spaces when encoded), as Redis answers it.
pub fn debug_error(text: &[u8]) -> Reply {
    Reply::error_owned(String::from_utf8_lossy(text).into_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    /// The codes Redis opens an error reply with; a string literal starting with one of them
    /// (and a space) is an error text, a format string included.
    const CODES: &[&str] = &[
        "ERR",
        "WRONGTYPE",
        "NOSCRIPT",
        "BUSY",
        "BUSYGROUP",
        "BUSYKEY",
        "IOERR",
        "NOPROTO",
        "EXECABORT",
        "NOAUTH",
        "NOPERM",
        "OOM",
        "NOGROUP",
        "UNBLOCKED",
        "WRONGPASS",
        "LOADING",
        "MISCONF",
        "READONLY",
        "MASTERDOWN",
        "DENIED",
        "INVALIDOBJ",
        "TESTFAILED",
    ];

    /// Files that may spell an error text themselves, and why:
    /// - this list;
    /// - `protocol/parse.rs`: protocol errors are raised below the command layer, which the
    ///   protocol layer must not depend on;
    /// - `shard/evict.rs`: the OOM text belongs to the eviction layer, also below `command`
    ///   (`OOM` above re-exports it);
    /// - `server/mod.rs`: the max-clients and protected-mode refusals are pre-encoded replies
    ///   (`-ERR ...\r\n` bytes) written before a connection has a session.
    const ALLOWED: &[&str] = &[
        "src/command/err.rs",
        "src/protocol/parse.rs",
        "src/shard/evict.rs",
        "src/server/mod.rs",
    ];

    /// The string literals of `source` outside its test module, each with its line number.
    fn literals(source: &str) -> Vec<(usize, String)> {
        let code = source.split("#[cfg(test)]").next().unwrap_or("");
        let mut found = Vec::new();
        let (mut line, mut chars) = (1, code.chars().peekable());
        let mut prev = ' ';
        while let Some(c) = chars.next() {
            match c {
                '\n' => line += 1,
                '/' if chars.peek() == Some(&'/') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            line += 1;
                            break;
                        }
                    }
                }
                '\'' if prev != 'b' && !prev.is_alphanumeric() => {
                    // A char literal ('"', '\\'), not a lifetime: skip to its closing quote.
                    let mut ahead = chars.clone();
                    let (first, second) = (ahead.next(), ahead.next());
                    if first == Some('\\') || second == Some('\'') {
                        for c in chars.by_ref() {
                            if c == '\'' {
                                break;
                            }
                        }
                    }
                }
                '"' => {
                    let (start, mut text) = (line, String::new());
                    while let Some(c) = chars.next() {
                        match c {
                            '"' => break,
                            '\\' => {
                                if let Some(escaped) = chars.next() {
                                    text.push('\\');
                                    text.push(escaped);
                                }
                            }
                            '\n' => {
                                line += 1;
                                text.push(c);
                            }
                            _ => text.push(c),
                        }
                    }
                    found.push((start, text));
                }
                _ => {}
            }
            prev = c;
        }
        found
    }

    fn is_error_text(text: &str) -> bool {
        let text = text.strip_prefix('-').unwrap_or(text);
        CODES.iter().any(|code| {
            text.strip_prefix(code)
                .and_then(|rest| rest.strip_prefix(' '))
                .is_some_and(|rest| !rest.is_empty())
        })
    }

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable source dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_text_is_declared_once() {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (line, text) in literals(include_str!("err.rs")) {
            if is_error_text(&text) {
                if let Some(first) = seen.insert(text.clone(), line) {
                    panic!("{text:?} declared on lines {first} and {line}");
                }
            }
        }
        assert!(seen.len() > 100, "only {} texts found", seen.len());
        assert!(seen.contains_key(super::WRONGTYPE));
    }

    #[test]
    fn no_error_text_outside_the_list() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        let mut strays = Vec::new();
        for path in files {
            let name = path.strip_prefix(root).expect("under the root");
            let name = name.to_string_lossy().replace('\\', "/");
            if ALLOWED.contains(&name.as_str()) || name.ends_with("tests.rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).expect("readable source");
            for (line, text) in literals(&source) {
                if is_error_text(&text) {
                    strays.push(format!("{name}:{line}: {text:?}"));
                }
            }
        }
        assert!(
            strays.is_empty(),
            "error texts outside err.rs:\n{}",
            strays.join("\n")
        );
    }

    #[test]
    fn the_scanner_sees_error_literals() {
        let source = "let c = '\"'; x(\"ERR no\"); // \"ERR comment\"\nlet f = format!(\"ERR {a}\");\nlet b = b\"-WRONGTYPE x\";";
        let texts: Vec<_> = literals(source)
            .into_iter()
            .filter(|(_, t)| is_error_text(t))
            .collect();
        assert_eq!(
            texts,
            [
                (1, "ERR no".to_string()),
                (2, "ERR {a}".to_string()),
                (3, "-WRONGTYPE x".to_string())
            ]
        );
    }
}
