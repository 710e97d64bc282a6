//! Cluster mode on one node: ringkv started with `--cluster-enabled yes` against redis-server
//! 7.0.15 started the same way (the oracle), given the same commands; node IDs and ports are
//! normalised before the replies are compared byte for byte. Also nodes.conf across a
//! restart, redirects, and `redis-cli -c` following a MOVED from ringkv to a redis-server
//! node that serves the other half of the slots.

use std::process::Command;
use std::time::Duration;

use crate::common::{eventually, words, Raw, RedisServer, Server, TempDir};

/// A ringkv cluster node keeping its nodes.conf in `dir`.
fn ringkv_node(dir: &TempDir, extra: &[&str]) -> Server {
    let mut args = vec!["--cluster-enabled", "yes", "--dir", dir.path()];
    args.extend_from_slice(extra);
    Server::start(2, "epoll", &args)
}

/// redis-server as a cluster node (it keeps nodes.conf in its own temp dir).
fn redis_node(extra: &[&str]) -> RedisServer {
    let mut args = vec!["--cluster-enabled", "yes"];
    args.extend_from_slice(extra);
    RedisServer::start_with(&args)
}

/// Runs redis-cli with `args`, killed after `secs`: whether it exited successfully, and its
/// standard output.
fn redis_cli(args: &[&str], secs: u64) -> (bool, String) {
    let mut child = Command::new("redis-cli")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run redis-cli");
    // Read as it comes: a long output (a reshard plan) would fill the pipe and stall it.
    let mut stdout = child.stdout.take().expect("redis-cli stdout");
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap_or_default();
    (status.is_some_and(|s| s.success()), out)
}

fn run(raw: &mut Raw, line: &str) -> Vec<u8> {
    let args = words(line);
    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    raw.cmd(&refs);
    raw.reply()
}

fn text(raw: &mut Raw, line: &str) -> String {
    String::from_utf8_lossy(&run(raw, line)).into_owned()
}

fn myid(raw: &mut Raw) -> String {
    let reply = text(raw, "CLUSTER MYID");
    reply.lines().nth(1).unwrap_or_default().to_string()
}

/// Waits until CLUSTER INFO says `cluster_state:ok` (a master waits 2 s after its start).
fn wait_ok(raw: &mut Raw) {
    let ok = eventually(Duration::from_secs(15), || {
        text(raw, "CLUSTER INFO").contains("cluster_state:ok")
    });
    assert!(
        ok,
        "cluster_state never turned ok: {}",
        text(raw, "CLUSTER INFO")
    );
}

/// A reply with this node's ID and ports replaced by placeholders.
fn normalised(reply: &[u8], id: &str, port: u16, bus: u32) -> String {
    String::from_utf8_lossy(reply)
        .replace(id, "<ID>")
        .replace(&format!(":{port}@{bus}"), ":<PORT>@<BUS>")
        .replace(&format!(":{port}\r\n"), ":<PORT>\r\n")
}

/// Sends every line to both servers and returns the lines whose replies differ.
fn mismatches(
    redis: &mut Raw,
    redis_port: u16,
    ours: &mut Raw,
    our_port: u16,
    script: &[&str],
) -> Vec<String> {
    let mut out = Vec::new();
    let (redis_bus, our_bus) = (bus_port(redis), bus_port(ours));
    for line in script {
        let (theirs, mine) = (run(redis, line), run(ours, line));
        // The IDs are read after the line: CLUSTER RESET HARD draws a new one.
        let (a, b) = (
            normalised(&theirs, &myid(redis), redis_port, redis_bus),
            normalised(&mine, &myid(ours), our_port, our_bus),
        );
        if a != b {
            out.push(format!(
                "{line}\n  redis-server: {a:?}\n  ringkv:       {b:?}"
            ));
        }
    }
    out
}

/// The bus port ringkv bound, from its CLUSTER NODES line (`:port@bus`).
fn bus_port(raw: &mut Raw) -> u32 {
    let nodes = text(raw, "CLUSTER NODES");
    nodes
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("a bus port in CLUSTER NODES")
}

#[test]
fn cluster_commands_answer_as_redis_server() {
    let dir = TempDir::new("cluster-oracle");
    let server = ringkv_node(&dir, &[]);
    let redis = redis_node(&[]);
    let (mut ours, mut theirs) = (server.raw(), Raw::connect(redis.port));
    let before: &[&str] = &[
        "CLUSTER NODES",
        "CLUSTER SLOTS",
        "CLUSTER SHARDS",
        "CLUSTER LINKS",
        "CLUSTER KEYSLOT foo",
        "CLUSTER KEYSLOT {user1000}.following",
        "CLUSTER COUNTKEYSINSLOT 16384",
        "CLUSTER COUNTKEYSINSLOT abc",
        "CLUSTER GETKEYSINSLOT 1 -1",
        "CLUSTER GETKEYSINSLOT 16384 1",
        "SET foo bar",
        "GET foo",
        "CLUSTER ADDSLOTS 1 2 3",
        "CLUSTER ADDSLOTS 1",
        "CLUSTER ADDSLOTS 5 5",
        "CLUSTER ADDSLOTS 99999",
        "CLUSTER ADDSLOTSRANGE 10 5",
        "CLUSTER ADDSLOTSRANGE 10 20 30",
        "CLUSTER ADDSLOTSRANGE 10 20 15 25",
        "CLUSTER ADDSLOTSRANGE 100 200 300 400",
        "CLUSTER DELSLOTS 4",
        "CLUSTER DELSLOTS 1 1",
        "CLUSTER DELSLOTSRANGE 100 150",
        "CLUSTER NODES",
        "CLUSTER SLOTS",
        "CLUSTER SHARDS",
        "CLUSTER SETSLOT 1 NODE abc",
        "CLUSTER SETSLOT 1 foo",
        "CLUSTER SETSLOT 99999 STABLE",
        "CLUSTER SETSLOT 1 STABLE",
        "CLUSTER COUNT-FAILURE-REPORTS abc",
        "CLUSTER FORGET abc",
        "CLUSTER REPLICAS abc",
        "CLUSTER REPLICATE abc",
        "CLUSTER SET-CONFIG-EPOCH -1",
        "CLUSTER FAILOVER",
        "CLUSTER FAILOVER foo",
        "CLUSTER RESET foo",
        "CLUSTER MEET 1.2.3.4 x",
        "CLUSTER MEET nothost 10",
        "CLUSTER BUMPEPOCH",
        "CLUSTER BUMPEPOCH",
        "CLUSTER SET-CONFIG-EPOCH 5",
        "CLUSTER foo",
        "CLUSTER ADDSLOTS",
        "CLUSTER HELP",
        "ASKING",
        "READONLY",
        "READWRITE",
        "SELECT 1",
        "SELECT 0",
        "SWAPDB 0 1",
        "MOVE foo 1",
        "REPLICAOF 127.0.0.1 1",
        "SLAVEOF NO ONE",
        "FAILOVER",
        "FAILOVER ABORT",
        "CLUSTER RESET HARD",
        "CLUSTER SET-CONFIG-EPOCH 5",
        "CLUSTER NODES",
        "CLUSTER ADDSLOTSRANGE 0 16383",
        "CLUSTER SAVECONFIG",
        "CLUSTER SLOTS",
        "CLUSTER SHARDS",
    ];
    let mut wrong = mismatches(&mut theirs, redis.port, &mut ours, server.port, before);
    wait_ok(&mut theirs);
    wait_ok(&mut ours);
    let after: &[&str] = &[
        "CLUSTER INFO",
        "SET foo bar",
        "MSET a 1 b 2",
        "MSET {a}1 1 {a}2 2",
        "GET {a}1",
        "EVAL \"return redis.call('get', KEYS[1])\" 1 {a}1",
        "EVAL \"return 1\" 2 a b",
        "CLUSTER COUNTKEYSINSLOT 15495",
        "CLUSTER GETKEYSINSLOT 12182 10",
        "CLUSTER GETKEYSINSLOT 15495 0",
        "COPY foo bar DB 1",
        "MULTI",
        "SET {a}1 x",
        "GET {a}2",
        "EXEC",
        "MULTI",
        "SET a 1",
        "SET b 1",
        "EXEC",
        "CLUSTER FLUSHSLOTS",
        "CLUSTER RESET",
        "DEL {a}1 {a}2 foo",
        "CLUSTER DELSLOTS 12182",
        "GET foo",
        "GET bar",
        "CLUSTER INFO",
        "CLUSTER FLUSHSLOTS",
        "CLUSTER NODES",
    ];
    wrong.extend(mismatches(
        &mut theirs,
        redis.port,
        &mut ours,
        server.port,
        after,
    ));
    assert!(wrong.is_empty(), "replies differ:\n{}", wrong.join("\n"));
}

#[test]
fn cluster_mode_off_refuses_cluster_commands() {
    let server = Server::start(1, "epoll", &[]);
    let mut raw = server.raw();
    for line in [
        "CLUSTER INFO",
        "CLUSTER KEYSLOT foo",
        "ASKING",
        "READONLY",
        "READWRITE",
    ] {
        assert_eq!(
            text(&mut raw, line),
            "-ERR This instance has cluster support disabled\r\n",
            "{line}"
        );
    }
    assert_eq!(text(&mut raw, "SELECT 1"), "+OK\r\n");
}

#[test]
fn redis_cli_sets_and_reads_keys_and_slots_count_them() {
    let dir = TempDir::new("cluster-cli");
    let server = ringkv_node(&dir, &[]);
    let mut raw = server.raw();
    assert_eq!(text(&mut raw, "CLUSTER ADDSLOTSRANGE 0 16383"), "+OK\r\n");
    wait_ok(&mut raw);
    let cli = |args: &[&str]| -> String {
        let out = Command::new("redis-cli")
            .args(["-c", "-p", &server.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    for i in 0..20 {
        assert_eq!(cli(&["set", &format!("key:{i}"), &format!("v{i}")]), "OK");
    }
    for i in 0..20 {
        assert_eq!(cli(&["get", &format!("key:{i}")]), format!("v{i}"));
    }
    assert_eq!(
        cli(&["mset", "key:1", "x", "key:2", "y"]),
        "CROSSSLOT Keys in request don't hash to the same slot"
    );
    // Three keys in one slot (one hash tag), on whichever shard owns it.
    for k in ["{t}1", "{t}2", "{t}3"] {
        assert_eq!(cli(&["set", k, "1"]), "OK");
    }
    let slot = cli(&["cluster", "keyslot", "{t}"]);
    assert_eq!(cli(&["cluster", "countkeysinslot", &slot]), "3");
    let mut keys: Vec<String> = cli(&["cluster", "getkeysinslot", &slot, "10"])
        .lines()
        .map(str::to_string)
        .collect();
    keys.sort();
    assert_eq!(keys, ["{t}1", "{t}2", "{t}3"]);
    assert_eq!(
        cli(&["cluster", "getkeysinslot", &slot, "2"])
            .lines()
            .count(),
        2
    );
    // A slot given away: its keys are not served, the others still are when coverage is
    // not required.
    assert_eq!(
        text(&mut raw, &format!("CLUSTER DELSLOTS {slot}")),
        "+OK\r\n"
    );
    assert_eq!(
        text(&mut raw, "GET {t}1"),
        "-CLUSTERDOWN Hash slot not served\r\n"
    );
    assert_eq!(
        text(&mut raw, "GET key:1"),
        "-CLUSTERDOWN The cluster is down\r\n"
    );
    assert_eq!(
        text(&mut raw, "CONFIG SET cluster-require-full-coverage no"),
        "+OK\r\n"
    );
    wait_ok(&mut raw);
    assert_eq!(text(&mut raw, "GET key:1"), "$2\r\nv1\r\n");
    assert_eq!(
        text(&mut raw, "GET {t}1"),
        "-CLUSTERDOWN Hash slot not served\r\n"
    );
}

#[test]
fn nodes_conf_survives_a_restart() {
    let dir = TempDir::new("cluster-restart");
    let (id, nodes) = {
        let server = ringkv_node(&dir, &[]);
        let mut raw = server.raw();
        assert_eq!(
            text(&mut raw, "CLUSTER ADDSLOTSRANGE 0 100 200 300"),
            "+OK\r\n"
        );
        assert_eq!(text(&mut raw, "CLUSTER SET-CONFIG-EPOCH 7"), "+OK\r\n");
        (myid(&mut raw), text(&mut raw, "CLUSTER NODES"))
    };
    assert_eq!(id.len(), 40);
    let conf = std::fs::read_to_string(dir.0.join("nodes.conf")).expect("nodes.conf written");
    let lines: Vec<&str> = conf.lines().collect();
    assert_eq!(lines.len(), 2, "{conf}");
    assert!(lines[0].starts_with(&format!("{id} :")), "{conf}");
    assert!(
        lines[0].contains(" myself,master - 0 0 7 connected 0-100 200-300"),
        "{conf}"
    );
    assert_eq!(lines[1], "vars currentEpoch 7 lastVoteEpoch 0");
    let server = ringkv_node(&dir, &[]);
    let mut raw = server.raw();
    assert_eq!(myid(&mut raw), id);
    let again = text(&mut raw, "CLUSTER NODES");
    let slots = |nodes: &str| {
        nodes
            .split(" connected")
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(slots(&again), slots(&nodes));
    assert!(text(&mut raw, "CLUSTER INFO").contains("cluster_current_epoch:7"));
}

#[test]
fn a_slot_served_by_another_node_redirects_and_redis_cli_follows() {
    // redis-server serves slots 8192-16383; ringkv serves 0-8191 and knows redis-server from
    // its nodes.conf: its bus reaches redis-server (which answers PONG to a node it does not
    // know), so the cluster turns ok for ringkv.
    let redis = redis_node(&["--cluster-require-full-coverage", "no"]);
    let mut theirs = Raw::connect(redis.port);
    assert_eq!(
        text(&mut theirs, "CLUSTER ADDSLOTSRANGE 8192 16383"),
        "+OK\r\n"
    );
    wait_ok(&mut theirs);
    assert_eq!(text(&mut theirs, "SET foo from-redis"), "+OK\r\n");
    let their_id = myid(&mut theirs);
    let dir = TempDir::new("cluster-moved");
    let me = "0".repeat(39) + "1";
    let conf = format!(
        "{me} :0@0 myself,master - 0 0 1 connected 0-8191\n\
         {their_id} 127.0.0.1:{}@{} master - 0 0 2 connected 8192-16383\n\
         vars currentEpoch 2 lastVoteEpoch 0\n",
        redis.port,
        u32::from(redis.port) + 10000
    );
    std::fs::write(dir.0.join("nodes.conf"), conf).unwrap();
    let server = ringkv_node(&dir, &["--cluster-allow-reads-when-down", "yes"]);
    let mut raw = server.raw();
    assert_eq!(myid(&mut raw), me);
    // foo is slot 12182, bar 5061.
    assert_eq!(
        text(&mut raw, "GET foo"),
        format!("-MOVED 12182 127.0.0.1:{}\r\n", redis.port)
    );
    wait_ok(&mut raw);
    assert_eq!(text(&mut raw, "SET bar 1"), "+OK\r\n");
    assert_eq!(text(&mut raw, "GET bar"), "$1\r\n1\r\n");
    let nodes = text(&mut raw, "CLUSTER NODES");
    let line = nodes
        .lines()
        .find(|l| l.contains(&their_id))
        .unwrap_or_default();
    assert!(line.contains(" connected 8192-16383"), "{nodes}");
    let out = Command::new("redis-cli")
        .args(["-c", "-p", &server.port.to_string(), "get", "foo"])
        .output()
        .expect("run redis-cli");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "from-redis");
    let slots = text(&mut raw, "CLUSTER SLOTS");
    assert!(slots.contains(&their_id) && slots.contains(&me), "{slots}");
}

/// `redis-cli --cluster create` on the nodes at `ports`, then `--cluster check` through
/// `check`; both must report every slot covered, and every node must turn ok.
fn create_cluster(ports: &[u16], check: u16) {
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(addrs.iter().map(String::as_str));
    args.push("--cluster-yes");
    let (ok, out) = redis_cli(&args, 60);
    assert!(ok, "cluster create failed:\n{out}");
    assert!(out.contains("Waiting for the cluster to join"), "{out}");
    assert!(out.contains("[OK] All 16384 slots covered"), "{out}");
    let check = format!("127.0.0.1:{check}");
    let (_, out) = redis_cli(&["--cluster", "check", &check], 30);
    assert!(
        out.contains("[OK] All nodes agree about slots configuration"),
        "{out}"
    );
    assert!(out.contains("[OK] All 16384 slots covered"), "{out}");
    for &port in ports {
        let mut raw = Raw::connect(port);
        wait_ok(&mut raw);
        let nodes = text(&mut raw, "CLUSTER NODES");
        let lines: Vec<&str> = nodes.lines().filter(|l| l.contains("master")).collect();
        assert_eq!(lines.len(), ports.len(), "{nodes}");
        assert!(
            !nodes.contains("handshake") && !nodes.contains("disconnected"),
            "{nodes}"
        );
    }
}

/// Keys of every node's range written with `redis-cli -c` through the first node, read
/// through each node.
fn keys_follow_redirects(ports: &[u16]) {
    // b: slot 3300, c: 7365, foo: 12182 (create gives 0-5460, 5461-10922, 10923-16383).
    let first = ports[0].to_string();
    for key in ["b", "c", "foo"] {
        let (ok, out) = redis_cli(&["-c", "-p", &first, "set", key, &format!("v-{key}")], 10);
        assert!(ok && out.trim() == "OK", "set {key}: {out}");
    }
    for port in ports {
        for key in ["b", "c", "foo"] {
            let (_, out) = redis_cli(&["-c", "-p", &port.to_string(), "get", key], 10);
            assert_eq!(out.trim(), format!("v-{key}"), "get {key} through {port}");
        }
    }
}

#[test]
fn three_ringkv_nodes_meet_gossip_and_agree_on_slots() {
    let dirs: Vec<TempDir> = (0..3)
        .map(|i| TempDir::new(&format!("cluster-bus-{i}")))
        .collect();
    let mut servers: Vec<Server> = dirs
        .iter()
        .map(|d| ringkv_node(d, &["--cluster-node-timeout", "2000"]))
        .collect();
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    create_cluster(&ports, ports[0]);
    keys_follow_redirects(&ports);
    // The configuration survives in nodes.conf: every node names all three.
    for dir in &dirs {
        let conf = std::fs::read_to_string(dir.0.join("nodes.conf")).unwrap();
        assert_eq!(
            conf.lines().filter(|l| l.contains("master")).count(),
            3,
            "{conf}"
        );
        assert!(conf.contains("vars currentEpoch 3"), "{conf}");
    }
    let mut first = Raw::connect(ports[0]);
    let info = text(&mut first, "CLUSTER INFO");
    for field in ["ping_sent", "pong_sent", "ping_received", "pong_received"] {
        let line = format!("cluster_stats_messages_{field}:");
        assert!(info.contains(&line), "{line} missing: {info}");
    }
    // A node that stops answering is flagged fail? after cluster-node-timeout, then fail
    // once the other two masters (a majority of three) report it.
    let gone = myid(&mut Raw::connect(ports[2]));
    drop(servers.pop());
    let flagged = eventually(Duration::from_secs(15), || {
        let nodes = text(&mut first, "CLUSTER NODES");
        nodes
            .lines()
            .any(|l| l.starts_with(&gone) && l.contains("master,fail "))
    });
    assert!(flagged, "{}", text(&mut first, "CLUSTER NODES"));
    let agreed = eventually(Duration::from_secs(5), || {
        text(&mut Raw::connect(ports[1]), "CLUSTER NODES")
            .lines()
            .any(|l| l.starts_with(&gone) && l.contains("master,fail "))
    });
    assert!(
        agreed,
        "{}",
        text(&mut Raw::connect(ports[1]), "CLUSTER NODES")
    );
}

#[test]
fn redis_server_and_two_ringkv_nodes_form_one_cluster() {
    let redis = redis_node(&[]);
    let dirs: Vec<TempDir> = (0..2)
        .map(|i| TempDir::new(&format!("cluster-mixed-{i}")))
        .collect();
    let servers: Vec<Server> = dirs.iter().map(|d| ringkv_node(d, &[])).collect();
    let ports = vec![redis.port, servers[0].port, servers[1].port];
    create_cluster(&ports, servers[0].port);
    keys_follow_redirects(&ports);
    // Populated slots move from redis-server to ringkv and from ringkv to redis-server.
    reshard_under_load(&ports, &[(0, 1, 800), (2, 0, 800)]);
}

/// A cluster client (the `redis` crate's, which follows MOVED, ASK and TRYAGAIN as Redis's
/// clients do) seeded with the node at `port`.
fn cluster_client(port: u16) -> redis::cluster::ClusterConnection {
    redis::cluster::ClusterClientBuilder::new(vec![format!("redis://127.0.0.1:{port}/")])
        .retries(30)
        .connection_timeout(Duration::from_secs(5))
        .response_timeout(Duration::from_secs(10))
        .build()
        .expect("cluster client")
        .get_connection()
        .expect("cluster connection")
}

/// `redis-cli --cluster reshard` of `slots` slots from node `from` to node `to` (IDs), through
/// the node at `port`: it must complete, and leave no slot open.
fn reshard(port: u16, from: &str, to: &str, slots: usize) {
    let addr = format!("127.0.0.1:{port}");
    let slots = slots.to_string();
    let (ok, out) = redis_cli(
        &[
            "--cluster",
            "reshard",
            &addr,
            "--cluster-from",
            from,
            "--cluster-to",
            to,
            "--cluster-slots",
            &slots,
            "--cluster-yes",
        ],
        120,
    );
    let lines: Vec<&str> = out.lines().collect();
    let tail = lines[lines.len().saturating_sub(12)..].join("\n");
    assert!(ok, "reshard failed:\n{tail}");
    let (_, check) = redis_cli(&["--cluster", "check", &addr], 30);
    assert!(check.contains("[OK] All 16384 slots covered"), "{check}");
    assert!(!check.contains("[WARNING]"), "slots left open:\n{check}");
}

/// Writes `value-of(i)` under `key(i)` for i in `range` through the cluster client, in
/// pipelines of 100 (the client splits each by node).
fn fill(con: &mut redis::cluster::ClusterConnection, range: std::ops::Range<usize>, prefix: &str) {
    let keys: Vec<usize> = range.collect();
    for chunk in keys.chunks(100) {
        let mut pipe = redis::cluster::cluster_pipe();
        for i in chunk {
            pipe.cmd("SET")
                .arg(format!("{prefix}{i}"))
                .arg(format!("v{i}"))
                .ignore();
        }
        let () = pipe.query(con).expect("pipelined SETs");
    }
}

/// Every key of `range` reads back through the cluster client with its value.
fn verify(
    con: &mut redis::cluster::ClusterConnection,
    range: std::ops::Range<usize>,
    prefix: &str,
) {
    let keys: Vec<usize> = range.collect();
    for chunk in keys.chunks(100) {
        let mut pipe = redis::cluster::cluster_pipe();
        for i in chunk {
            pipe.cmd("GET").arg(format!("{prefix}{i}"));
        }
        let got: Vec<Option<String>> = pipe.query(con).expect("pipelined GETs");
        for (i, value) in chunk.iter().zip(got) {
            assert_eq!(value, Some(format!("v{i}")), "{prefix}{i}");
        }
    }
}

/// The keys every node holds, summed (DBSIZE per node).
fn total_keys(ports: &[u16]) -> i64 {
    ports
        .iter()
        .map(|&p| {
            let reply = run(&mut Raw::connect(p), "DBSIZE");
            String::from_utf8_lossy(&reply[1..])
                .trim()
                .parse::<i64>()
                .unwrap()
        })
        .sum()
}

/// Reshards populated slots while a client writes and reads: no key is lost or left behind,
/// and the client only ever sees redirects it follows (ASK during a slot's move, MOVED after).
fn reshard_under_load(ports: &[u16], moves: &[(usize, usize, usize)]) {
    let ids: Vec<String> = ports.iter().map(|&p| myid(&mut Raw::connect(p))).collect();
    let before = total_keys(ports);
    let mut con = cluster_client(ports[0]);
    fill(&mut con, 0..10_000, "key:");
    // Multi-key commands on one slot through a hash tag.
    let () = redis::cmd("MSET")
        .arg("{user1}:a")
        .arg("1")
        .arg("{user1}:b")
        .arg("2")
        .query(&mut con)
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let port = ports[0];
        std::thread::spawn(move || {
            let mut con = cluster_client(port);
            // Writes cycle over 3000 keys (each slot keeps a few for MIGRATE to move), and
            // each is read back at once. The last value of each key is kept.
            let mut last: Vec<Option<usize>> = vec![None; 3000];
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || i < 2_000 {
                let key = format!("live:{}", i % last.len());
                let () = redis::cmd("SET")
                    .arg(&key)
                    .arg(format!("v{i}"))
                    .query(&mut con)
                    .unwrap_or_else(|e| panic!("SET {key} during resharding: {e}"));
                let got: Option<String> = redis::cmd("GET")
                    .arg(&key)
                    .query(&mut con)
                    .unwrap_or_else(|e| panic!("GET {key} during resharding: {e}"));
                assert_eq!(got, Some(format!("v{i}")), "{key}");
                let slots = last.len();
                last[i % slots] = Some(i);
                i += 1;
            }
            last
        })
    };
    for &(from, to, slots) in moves {
        reshard(ports[0], &ids[from], &ids[to], slots);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let last = writer.join().expect("writer");
    // A fresh client, with the new slot map: the crate's pipelines return a MOVED as an
    // error instead of following it.
    let mut con = cluster_client(ports[0]);
    verify(&mut con, 0..10_000, "key:");
    for (k, i) in last.iter().enumerate() {
        let Some(i) = i else { continue };
        let got: Option<String> = redis::cmd("GET")
            .arg(format!("live:{k}"))
            .query(&mut con)
            .unwrap();
        assert_eq!(got, Some(format!("v{i}")), "live:{k}");
    }
    let written = last.iter().flatten().count();
    let values: Vec<String> = redis::cmd("MGET")
        .arg("{user1}:a")
        .arg("{user1}:b")
        .query(&mut con)
        .unwrap();
    assert_eq!(values, ["1", "2"]);
    // Nothing was left behind in a slot a node gave away: each key is held once.
    assert_eq!(total_keys(ports), before + 10_000 + written as i64 + 2);
}

#[test]
fn resharding_populated_slots_under_load_loses_no_key() {
    let dirs: Vec<TempDir> = (0..3)
        .map(|i| TempDir::new(&format!("cluster-reshard-{i}")))
        .collect();
    let servers: Vec<Server> = dirs.iter().map(|d| ringkv_node(d, &[])).collect();
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    create_cluster(&ports, ports[0]);
    reshard_under_load(&ports, &[(0, 1, 1000), (1, 2, 1500)]);
    // redis-benchmark in cluster mode runs without an error.
    let port = ports[0].to_string();
    let out = Command::new("redis-benchmark")
        .args([
            "--cluster",
            "-p",
            &port,
            "-t",
            "set,get",
            "-n",
            "20000",
            "-r",
            "1000",
            "-q",
        ])
        .output()
        .expect("run redis-benchmark");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !text.contains("Error"), "{text}");
    assert!(text.contains("SET:") && text.contains("GET:"), "{text}");
}

#[test]
fn a_migrating_slot_answers_ask_and_tryagain_as_redis_server() {
    // The same steps on a pair of ringkv nodes and on a pair of redis-server nodes.
    fn steps(a: u16, b: u16) -> Vec<String> {
        let (mut ra, mut rb) = (Raw::connect(a), Raw::connect(b));
        let (ida, idb) = (myid(&mut ra), myid(&mut rb));
        text(&mut ra, "CLUSTER ADDSLOTSRANGE 0 8191");
        text(&mut rb, "CLUSTER ADDSLOTSRANGE 8192 16383");
        text(&mut ra, &format!("CLUSTER MEET 127.0.0.1 {b}"));
        wait_ok(&mut ra);
        wait_ok(&mut rb);
        // {t} is slot 15891 (b's), moved from b to a.
        let mut out = Vec::new();
        let mut note = |raw: &mut Raw, line: &str| {
            let reply = run(raw, line);
            let shown = format!("{line} -> {}", String::from_utf8_lossy(&reply));
            let shown = shown.replace(&ida, "ID-A").replace(&idb, "ID-B");
            out.push(
                shown
                    .replace(&a.to_string(), "A")
                    .replace(&b.to_string(), "B"),
            );
        };
        note(&mut rb, "SET {t}1 one");
        note(&mut rb, "SET {t}2 two");
        note(&mut ra, &format!("CLUSTER SETSLOT 15891 IMPORTING {idb}"));
        note(&mut rb, &format!("CLUSTER SETSLOT 15891 MIGRATING {ida}"));
        note(&mut rb, "GET {t}1");
        note(&mut rb, "GET {t}3");
        note(&mut rb, "MGET {t}1 {t}3");
        note(&mut rb, "MGET {t}3 {t}4");
        note(&mut ra, "GET {t}3");
        note(&mut ra, "ASKING");
        note(&mut ra, "SET {t}3 three");
        note(&mut ra, "ASKING");
        note(&mut ra, "MGET {t}3 {t}4");
        note(&mut ra, "ASKING");
        note(&mut ra, "MGET {t}3 {t}3");
        note(
            &mut rb,
            &format!("MIGRATE 127.0.0.1 {a} \"\" 0 5000 KEYS {{t}}1"),
        );
        note(&mut rb, "GET {t}1");
        note(&mut rb, "EXISTS {t}2 {t}1");
        note(&mut rb, "CLUSTER COUNTKEYSINSLOT 15891");
        note(&mut rb, &format!("CLUSTER SETSLOT 15891 NODE {ida}"));
        note(&mut rb, &format!("MIGRATE 127.0.0.1 {a} {{t}}2 0 5000"));
        note(&mut rb, &format!("CLUSTER SETSLOT 15891 NODE {ida}"));
        note(&mut ra, &format!("CLUSTER SETSLOT 15891 NODE {ida}"));
        note(&mut ra, "MGET {t}1 {t}2 {t}3");
        note(&mut rb, "GET {t}1");
        note(&mut ra, "CLUSTER COUNTKEYSINSLOT 15891");
        out
    }
    let dirs: Vec<TempDir> = (0..2)
        .map(|i| TempDir::new(&format!("cluster-ask-{i}")))
        .collect();
    let ours: Vec<Server> = dirs.iter().map(|d| ringkv_node(d, &[])).collect();
    let theirs = [redis_node(&[]), redis_node(&[])];
    let got = steps(ours[0].port, ours[1].port);
    let want = steps(theirs[0].port, theirs[1].port);
    assert_eq!(got, want);
}

/// The replicas of the master `master_id` as the node at `port` lists them in CLUSTER NODES.
fn replicas_of(port: u16, master_id: &str) -> Vec<String> {
    text(&mut Raw::connect(port), "CLUSTER NODES")
        .lines()
        .filter(|l| l.split(' ').nth(3) == Some(master_id) && l.contains("slave"))
        .map(|l| l.split(' ').next().unwrap_or_default().to_string())
        .collect()
}

/// The replica at `replica` holds as many keys as its master at `master`, and some.
fn replica_caught_up(master: u16, replica: u16) -> bool {
    let size = |p| run(&mut Raw::connect(p), "DBSIZE");
    size(master) == size(replica) && size(replica) != b":0\r\n"
}

/// Waits until the replica at `replica` holds what the master at `master` holds.
fn assert_caught_up(master: u16, replica: u16) {
    let caught_up = eventually(Duration::from_secs(20), || {
        replica_caught_up(master, replica)
    });
    assert!(
        caught_up,
        "replica {replica} of {master}: {} vs {}\n{}",
        text(&mut Raw::connect(replica), "DBSIZE"),
        text(&mut Raw::connect(master), "DBSIZE"),
        text(&mut Raw::connect(replica), "INFO replication")
    );
}

#[test]
fn cluster_replicas_follow_their_masters_and_serve_readonly_reads() {
    let dirs: Vec<TempDir> = (0..6)
        .map(|i| TempDir::new(&format!("cluster-replicas-{i}")))
        .collect();
    let servers: Vec<Server> = dirs.iter().map(|d| ringkv_node(d, &[])).collect();
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(addrs.iter().map(String::as_str));
    args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
    let (ok, out) = redis_cli(&args, 90);
    assert!(ok, "cluster create failed:\n{out}");
    assert!(out.contains("[OK] All 16384 slots covered"), "{out}");
    for &port in &ports {
        wait_ok(&mut Raw::connect(port));
    }
    let mut con = cluster_client(ports[0]);
    fill(&mut con, 0..3000, "r:");
    // Each master has one replica, which every node names, and which holds its data.
    let mut pairs = Vec::new();
    for &port in &ports {
        let mut raw = Raw::connect(port);
        let nodes = text(&mut raw, "CLUSTER NODES");
        let me = nodes
            .lines()
            .find(|l| l.contains("myself"))
            .unwrap()
            .to_string();
        if !me.contains("master") {
            continue;
        }
        let id = me.split(' ').next().unwrap().to_string();
        let agreed = eventually(Duration::from_secs(15), || {
            ports.iter().all(|&p| replicas_of(p, &id).len() == 1)
        });
        assert!(agreed, "replica of {id} not known everywhere: {nodes}");
        let replica_id = replicas_of(port, &id)[0].clone();
        let replica = *ports
            .iter()
            .find(|&&p| myid(&mut Raw::connect(p)) == replica_id)
            .unwrap();
        pairs.push((port, replica, id));
    }
    assert_eq!(pairs.len(), 3, "three masters with a replica each");
    for (master, replica, master_id) in &pairs {
        assert_caught_up(*master, *replica);
        let mut r = Raw::connect(*replica);
        let role = text(&mut r, "ROLE");
        assert!(role.contains("slave"), "{role}");
        let me = text(&mut r, "CLUSTER NODES");
        assert!(
            me.lines()
                .any(|l| l.contains("myself,slave") && l.contains(master_id.as_str())),
            "{me}"
        );
        // A key of the master's: MOVED to it, unless READONLY (reads only).
        let reply = text(&mut Raw::connect(*master), "RANDOMKEY");
        let key = reply.lines().nth(1).expect("a key").to_string();
        let moved = text(&mut r, &format!("GET {key}"));
        assert!(
            moved.starts_with("-MOVED") && moved.contains(&master.to_string()),
            "{moved}"
        );
        assert_eq!(text(&mut r, "READONLY"), "+OK\r\n");
        let value = text(&mut r, &format!("GET {key}"));
        assert!(value.contains("\r\nv"), "READONLY GET {key}: {value}");
        let write = text(&mut r, &format!("SET {key} x"));
        assert!(write.starts_with("-MOVED"), "{write}");
        // CLUSTER SLOTS lists the replica after its master, once it reported an offset.
        let listed = eventually(Duration::from_secs(10), || {
            let slots = String::from_utf8_lossy(&run(&mut Raw::connect(ports[0]), "CLUSTER SLOTS"))
                .to_string();
            slots.contains(&replica.to_string())
        });
        assert!(listed, "replica {replica} missing from CLUSTER SLOTS");
    }
    let (_, check) = redis_cli(&["--cluster", "check", &addrs[0]], 30);
    assert!(check.contains("[OK] All 16384 slots covered"), "{check}");
    assert!(check.contains("1 slaves"), "{check}");
    verify(&mut cluster_client(ports[0]), 0..3000, "r:");
}

#[test]
fn keys_of_a_slot_lost_to_a_newer_epoch_are_deleted() {
    let dirs: Vec<TempDir> = (0..2)
        .map(|i| TempDir::new(&format!("cluster-lost-{i}")))
        .collect();
    let nodes: Vec<Server> = dirs.iter().map(|d| ringkv_node(d, &[])).collect();
    let (mut a, mut b) = (Raw::connect(nodes[0].port), Raw::connect(nodes[1].port));
    text(&mut a, "CLUSTER ADDSLOTSRANGE 0 8191");
    text(&mut b, "CLUSTER ADDSLOTSRANGE 8192 16383");
    text(&mut a, &format!("CLUSTER MEET 127.0.0.1 {}", nodes[1].port));
    wait_ok(&mut a);
    wait_ok(&mut b);
    // {b} hashes to slot 3300, a's.
    for i in 0..5 {
        assert_eq!(text(&mut a, &format!("SET {{b}}{i} x")), "+OK\r\n");
    }
    let id_b = myid(&mut b);
    // b takes slot 3300 on its own, with a config epoch above a's.
    assert_eq!(
        text(&mut b, &format!("CLUSTER SETSLOT 3300 NODE {id_b}")),
        "+OK\r\n"
    );
    text(&mut b, "CLUSTER BUMPEPOCH");
    let moved = eventually(Duration::from_secs(10), || {
        text(&mut a, "GET {b}1").starts_with("-MOVED 3300")
    });
    assert!(moved, "{}", text(&mut a, "CLUSTER NODES"));
    let purged = eventually(Duration::from_secs(5), || {
        text(&mut a, "CLUSTER COUNTKEYSINSLOT 3300") == ":0\r\n"
    });
    assert!(purged, "{}", text(&mut a, "CLUSTER COUNTKEYSINSLOT 3300"));
    assert_eq!(text(&mut a, "DBSIZE"), ":0\r\n");
}

#[test]
fn ringkv_and_redis_server_replicate_each_other_in_a_cluster() {
    let redis_master = redis_node(&[]);
    let dirs: Vec<TempDir> = (0..3)
        .map(|i| TempDir::new(&format!("cluster-mixed-replicas-{i}")))
        .collect();
    let ours: Vec<Server> = dirs.iter().map(|d| ringkv_node(d, &[])).collect();
    let redis_replica = redis_node(&[]);
    let masters = vec![redis_master.port, ours[0].port, ours[1].port];
    create_cluster(&masters, ours[0].port);
    // A ringkv replica of the redis-server master, a redis-server replica of a ringkv master.
    let pairs = [
        (ours[2].port, redis_master.port),
        (redis_replica.port, ours[0].port),
    ];
    for (replica, master) in pairs {
        let cluster: Vec<u16> = masters.iter().copied().chain([replica]).collect();
        add_replica(replica, master, &cluster);
    }
    for &port in masters.iter().chain([&ours[2].port, &redis_replica.port]) {
        wait_ok(&mut Raw::connect(port));
    }
    let mut con = cluster_client(masters[0]);
    fill(&mut con, 0..3000, "m:");
    for (replica, master) in pairs {
        assert_caught_up(master, replica);
    }
    let (_, check) = redis_cli(
        &["--cluster", "check", &format!("127.0.0.1:{}", masters[0])],
        30,
    );
    assert!(
        check.contains("[OK] All nodes agree about slots configuration"),
        "{check}"
    );
    assert!(check.contains("[OK] All 16384 slots covered"), "{check}");
}

/// A connection subscribed with `command` (SUBSCRIBE or SSUBSCRIBE) to `channel`, its
/// confirmation read.
fn subscriber(port: u16, command: &str, channel: &str) -> Raw {
    let mut raw = Raw::connect(port);
    raw.cmd(&[command.as_bytes(), channel.as_bytes()]);
    let confirmed = String::from_utf8_lossy(&raw.reply()).to_string();
    assert!(
        confirmed.contains(channel),
        "{command} {channel} on {port}: {confirmed}"
    );
    raw
}

#[test]
fn cluster_pubsub_reaches_every_node_and_shard_messages_stay_in_their_shard() {
    let redis = redis_node(&[]);
    let dirs: Vec<TempDir> = (0..3)
        .map(|i| TempDir::new(&format!("cluster-pubsub-{i}")))
        .collect();
    let ours: Vec<Server> = dirs.iter().map(|d| ringkv_node(d, &[])).collect();
    let masters = vec![ours[0].port, ours[1].port, redis.port];
    create_cluster(&masters, ours[0].port);
    // ours[2] replicates ours[0], which serves slot 0..5460 ({b}: slot 3300).
    let master_id = myid(&mut Raw::connect(ours[0].port));
    assert_eq!(
        text(
            &mut Raw::connect(ours[2].port),
            &format!("CLUSTER MEET 127.0.0.1 {}", ours[0].port)
        ),
        "+OK\r\n"
    );
    let known = eventually(Duration::from_secs(15), || {
        myid_known(ours[2].port, &master_id)
    });
    assert!(
        known,
        "{}",
        text(&mut Raw::connect(ours[2].port), "CLUSTER NODES")
    );
    assert_eq!(
        text(
            &mut Raw::connect(ours[2].port),
            &format!("CLUSTER REPLICATE {master_id}")
        ),
        "+OK\r\n"
    );
    let listed = eventually(Duration::from_secs(15), || {
        masters
            .iter()
            .all(|&p| replicas_of(p, &master_id).len() == 1)
    });
    assert!(
        listed,
        "{}",
        text(&mut Raw::connect(redis.port), "CLUSTER NODES")
    );
    // A published message goes out on each node's links to the others: wait until every
    // node has one to each (the new replica's may still be in handshake when it is listed).
    let all = [ours[0].port, ours[1].port, ours[2].port, redis.port];
    let linked = eventually(Duration::from_secs(15), || {
        all.iter().all(|&p| all_linked(p, all.len()))
    });
    assert!(
        linked,
        "{}",
        text(&mut Raw::connect(ours[1].port), "CLUSTER NODES")
    );
    // PUBLISH on any node reaches subscribers on every node, ringkv's and redis-server's.
    let mut subs: Vec<Raw> = [ours[0].port, ours[1].port, ours[2].port, redis.port]
        .iter()
        .map(|&p| subscriber(p, "SUBSCRIBE", "news"))
        .collect();
    for (from, text_sent) in [(ours[1].port, "from-ringkv"), (redis.port, "from-redis")] {
        let reply = run(
            &mut Raw::connect(from),
            &format!("PUBLISH news {text_sent}"),
        );
        // Counted: the subscribers of the publishing node only, as Redis counts.
        assert_eq!(reply, b":1\r\n");
        for sub in &mut subs {
            let got = String::from_utf8_lossy(&sub.reply()).to_string();
            assert!(got.contains("message") && got.contains(text_sent), "{got}");
        }
    }
    // SPUBLISH reaches the shard's replica (a READONLY-free SSUBSCRIBE there), not others.
    let mut on_replica = subscriber(ours[2].port, "SSUBSCRIBE", "{b}ch");
    let mut on_master = subscriber(ours[0].port, "SSUBSCRIBE", "{b}ch");
    let moved = run(&mut Raw::connect(ours[1].port), "SSUBSCRIBE {b}ch");
    assert!(
        moved.starts_with(b"-MOVED 3300"),
        "{}",
        String::from_utf8_lossy(&moved)
    );
    assert_eq!(
        run(&mut Raw::connect(ours[0].port), "SPUBLISH {b}ch hello"),
        b":1\r\n"
    );
    for sub in [&mut on_replica, &mut on_master] {
        let got = String::from_utf8_lossy(&sub.reply()).to_string();
        assert!(got.contains("smessage") && got.contains("hello"), "{got}");
    }
}

/// Whether the node at `port` lists `nodes` nodes, each with its link up.
fn all_linked(port: u16, nodes: usize) -> bool {
    let listed = text(&mut Raw::connect(port), "CLUSTER NODES");
    // The node lines (the reply's bulk header is not one).
    let lines: Vec<&str> = listed
        .lines()
        .filter(|l| l.split(' ').count() >= 8)
        .collect();
    lines.len() == nodes
        && lines
            .iter()
            .all(|l| l.split(' ').nth(7) == Some("connected") && !l.contains("handshake"))
}

/// Whether the node at `port` knows node `id` (not in handshake).
fn myid_known(port: u16, id: &str) -> bool {
    text(&mut Raw::connect(port), "CLUSTER NODES")
        .lines()
        .any(|l| l.starts_with(id) && !l.contains("handshake"))
}

/// The line of `id` in the CLUSTER NODES of the node at `port` (empty when unknown).
fn node_line(port: u16, id: &str) -> String {
    text(&mut Raw::connect(port), "CLUSTER NODES")
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_default()
        .to_string()
}

/// The masters (port, ID) of a cluster made of `ports`, each with the port of its replica.
fn masters_and_replicas(ports: &[u16]) -> Vec<(u16, String, u16)> {
    let ids: Vec<String> = ports.iter().map(|&p| myid(&mut Raw::connect(p))).collect();
    let mut out = Vec::new();
    for (i, &port) in ports.iter().enumerate() {
        let line = node_line(port, &ids[i]);
        if !line.contains("master") {
            continue;
        }
        let known = eventually(Duration::from_secs(15), || {
            replicas_of(port, &ids[i]).len() == 1
        });
        assert!(known, "no replica of {}: {line}", ids[i]);
        let replica_id = replicas_of(port, &ids[i])[0].clone();
        let replica = ports[ids.iter().position(|id| *id == replica_id).unwrap()];
        out.push((port, ids[i].clone(), replica));
    }
    out
}

/// Waits until the node at `port` serves as a master with slots, cluster_state ok.
fn promoted(port: u16, secs: u64) -> bool {
    eventually(Duration::from_secs(secs), || {
        let mut raw = Raw::connect(port);
        let id = myid(&mut raw);
        let line = node_line(port, &id);
        line.contains("myself,master")
            && line.split(' ').count() > 8
            && text(&mut raw, "ROLE").contains("master")
            && text(&mut raw, "CLUSTER INFO").contains("cluster_state:ok")
    })
}

#[test]
fn a_killed_master_is_replaced_by_its_replica_and_rejoins_as_a_replica() {
    let dirs: Vec<TempDir> = (0..6)
        .map(|i| TempDir::new(&format!("cluster-failover-{i}")))
        .collect();
    let timeout = ["--cluster-node-timeout", "1000"];
    let mut servers: Vec<Option<Server>> = dirs
        .iter()
        .map(|d| Some(ringkv_node(d, &timeout)))
        .collect();
    let ports: Vec<u16> = servers.iter().flatten().map(|s| s.port).collect();
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(addrs.iter().map(String::as_str));
    args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
    let (ok, out) = redis_cli(&args, 90);
    assert!(ok, "cluster create failed:\n{out}");
    for &port in &ports {
        wait_ok(&mut Raw::connect(port));
    }
    fill(&mut cluster_client(ports[0]), 0..3000, "f:");
    let pairs = masters_and_replicas(&ports);
    assert_eq!(pairs.len(), 3);
    let (master, master_id, replica) = pairs[0].clone();
    assert_caught_up(master, replica);
    let slots_before = node_line(master, &master_id)
        .split(' ')
        .skip(8)
        .collect::<Vec<_>>()
        .join(" ");
    // kill -9 of the master.
    let index = ports.iter().position(|&p| p == master).unwrap();
    drop(servers[index].take());
    assert!(
        promoted(replica, 20),
        "replica {replica} not promoted: {}",
        text(&mut Raw::connect(replica), "CLUSTER NODES")
    );
    let replica_id = myid(&mut Raw::connect(replica));
    let others: Vec<u16> = ports.iter().copied().filter(|&p| p != master).collect();
    for &port in &others {
        wait_ok(&mut Raw::connect(port));
        let agreed = eventually(Duration::from_secs(10), || {
            let old = node_line(port, &master_id);
            let new = node_line(port, &replica_id);
            old.contains("fail") && !old.contains("fail?") && new.contains("master")
        });
        assert!(
            agreed,
            "{port}: {}",
            text(&mut Raw::connect(port), "CLUSTER NODES")
        );
    }
    // The new master serves the old one's slots, with every key, and takes writes.
    let slots_after = node_line(replica, &replica_id)
        .split(' ')
        .skip(8)
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(slots_after, slots_before);
    let mut con = cluster_client(replica);
    verify(&mut con, 0..3000, "f:");
    fill(&mut con, 3000..4000, "f:");
    verify(&mut con, 0..4000, "f:");
    let reports = text(
        &mut Raw::connect(others[0]),
        &format!("CLUSTER COUNT-FAILURE-REPORTS {master_id}"),
    );
    assert!(reports.starts_with(':'), "{reports}");
    // The old master comes back on its port: it turns replica of the node that took its
    // slots, and copies its data.
    let port_arg = master.to_string();
    let mut extra = timeout.to_vec();
    extra.extend(["--port", &port_arg]);
    servers[index] = Some(ringkv_node(&dirs[index], &extra));
    let rejoined = eventually(Duration::from_secs(20), || {
        let line = node_line(master, &master_id);
        line.contains("myself,slave") && line.contains(&replica_id)
    });
    assert!(
        rejoined,
        "{}",
        text(&mut Raw::connect(master), "CLUSTER NODES")
    );
    assert_caught_up(replica, master);
    assert!(text(&mut Raw::connect(master), "ROLE").contains("slave"));
    for &port in &ports {
        let cleared = eventually(Duration::from_secs(10), || {
            let line = node_line(port, &master_id);
            line.contains("slave") && !line.contains("fail")
        });
        assert!(
            cleared,
            "{port}: {}",
            text(&mut Raw::connect(port), "CLUSTER NODES")
        );
    }
    let (_, check) = redis_cli(&["--cluster", "check", &addrs[1]], 30);
    assert!(check.contains("[OK] All 16384 slots covered"), "{check}");
    assert!(
        check.contains("[OK] All nodes agree about slots configuration"),
        "{check}"
    );
}

/// `redis-cli --cluster add-node` of the node at `replica` as a replica of the master at
/// `master`; every node of `ports` then names it.
fn add_replica(replica: u16, master: u16, ports: &[u16]) {
    let master_id = myid(&mut Raw::connect(master));
    let (ok, out) = redis_cli(
        &[
            "--cluster",
            "add-node",
            &format!("127.0.0.1:{replica}"),
            &format!("127.0.0.1:{master}"),
            "--cluster-slave",
            "--cluster-master-id",
            &master_id,
        ],
        60,
    );
    assert!(ok, "add-node {replica} as replica of {master}:\n{out}");
    let replica_id = myid(&mut Raw::connect(replica));
    let known = eventually(Duration::from_secs(15), || {
        ports
            .iter()
            .all(|&p| replicas_of(p, &master_id).contains(&replica_id))
    });
    assert!(
        known,
        "{}",
        text(&mut Raw::connect(master), "CLUSTER NODES")
    );
}

/// The replica at `new` took over from the failed master `old_id`: it serves as a master
/// with slots, and every node of `others` agrees, with `cluster_state:ok`.
fn replaced(old_id: &str, new: u16, others: &[u16]) {
    assert!(
        promoted(new, 20),
        "replica {new} not promoted: {}",
        text(&mut Raw::connect(new), "CLUSTER NODES")
    );
    let new_id = myid(&mut Raw::connect(new));
    for &port in others {
        let agreed = eventually(Duration::from_secs(10), || {
            node_line(port, &new_id).contains("master") && node_line(port, old_id).contains("fail")
        });
        assert!(agreed, "{}", text(&mut Raw::connect(port), "CLUSTER NODES"));
        wait_ok(&mut Raw::connect(port));
    }
}

#[test]
fn ringkv_and_redis_server_vote_for_each_other_s_replicas() {
    let timeout = ["--cluster-node-timeout", "1000"];
    let mut redis_a = Some(redis_node(&timeout));
    let redis_b = redis_node(&timeout);
    let dirs: Vec<TempDir> = (0..2)
        .map(|i| TempDir::new(&format!("cluster-mixed-failover-{i}")))
        .collect();
    let mut ringkv_c = Some(ringkv_node(&dirs[0], &timeout));
    let ringkv_r = ringkv_node(&dirs[1], &timeout);
    let redis_s = redis_node(&timeout);
    let (a, b, c) = (
        redis_a.as_ref().unwrap().port,
        redis_b.port,
        ringkv_c.as_ref().unwrap().port,
    );
    let (r, s) = (ringkv_r.port, redis_s.port);
    create_cluster(&[a, b, c], c);
    let all = [a, b, c, r, s];
    add_replica(r, c, &all[..4]);
    add_replica(s, a, &all);
    for port in all {
        wait_ok(&mut Raw::connect(port));
    }
    fill(&mut cluster_client(b), 0..3000, "x:");
    for (master, replica) in [(c, r), (a, s)] {
        assert_caught_up(master, replica);
    }
    // The ringkv master goes: the redis-server masters elect its ringkv replica.
    let c_id = myid(&mut Raw::connect(c));
    drop(ringkv_c.take());
    replaced(&c_id, r, &[a, b, s]);
    // A redis-server master goes: the other one and the promoted ringkv node elect its
    // redis-server replica.
    let a_id = myid(&mut Raw::connect(a));
    drop(redis_a.take());
    replaced(&a_id, s, &[b, r]);
    verify(&mut cluster_client(b), 0..3000, "x:");
    let (_, check) = redis_cli(&["--cluster", "check", &format!("127.0.0.1:{r}")], 30);
    assert!(check.contains("[OK] All 16384 slots covered"), "{check}");
}

/// Waits until the node at `port` is a replica of `master_id` in every view of `ports`
/// (the masters vote only for a node they know as a replica), and holds what the master at
/// `master` holds.
fn demoted(port: u16, master: u16, master_id: &str, ports: &[u16]) -> bool {
    let id = myid(&mut Raw::connect(port));
    eventually(Duration::from_secs(20), || {
        ports.iter().all(|&p| {
            let line = node_line(p, &id);
            line.contains("slave") && line.contains(master_id)
        }) && text(&mut Raw::connect(port), "ROLE").contains("slave")
            && replica_caught_up(master, port)
    })
}

/// CLUSTER FAILOVER `how` sent to the replica at `replica` of the master at `master`: the
/// replica turns master, the master its replica, in every view of `ports`.
fn manual_failover(replica: u16, master: u16, how: &str, ports: &[u16]) {
    let replica_id = myid(&mut Raw::connect(replica));
    let reply = text(
        &mut Raw::connect(replica),
        &format!("CLUSTER FAILOVER {how}"),
    );
    assert_eq!(reply, "+OK\r\n", "CLUSTER FAILOVER {how}");
    assert!(
        promoted(replica, 20),
        "{how}: {}",
        text(&mut Raw::connect(replica), "CLUSTER NODES")
    );
    assert!(
        demoted(master, replica, &replica_id, ports),
        "{how}: {}",
        text(&mut Raw::connect(master), "CLUSTER NODES")
    );
}

#[test]
fn cluster_failover_default_force_and_takeover_swap_a_master_and_its_replica() {
    let dirs: Vec<TempDir> = (0..4)
        .map(|i| TempDir::new(&format!("cluster-manual-{i}")))
        .collect();
    let servers: Vec<Server> = dirs.iter().map(|d| ringkv_node(d, &[])).collect();
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    create_cluster(&ports[..3], ports[0]);
    let (a, d) = (ports[0], ports[3]);
    add_replica(d, a, &ports);
    wait_ok(&mut Raw::connect(d));
    fill(&mut cluster_client(a), 0..2000, "m:");
    assert_caught_up(a, d);
    assert_eq!(
        text(&mut Raw::connect(a), "CLUSTER FAILOVER"),
        "-ERR You should send CLUSTER FAILOVER to a replica\r\n"
    );
    assert_eq!(
        text(&mut Raw::connect(d), "CLUSTER FAILOVER SOFTLY"),
        "-ERR syntax error\r\n"
    );
    // The default: the master pauses writes, the replica reaches its offset, then is elected.
    manual_failover(d, a, "", &ports);
    let mut con = cluster_client(ports[1]);
    verify(&mut con, 0..2000, "m:");
    fill(&mut con, 2000..2500, "m:");
    // FORCE: without the master's agreement on the offset, still by election.
    manual_failover(a, d, "FORCE", &ports);
    // TAKEOVER: no election, a new config epoch of its own.
    manual_failover(d, a, "TAKEOVER", &ports);
    verify(&mut cluster_client(ports[2]), 0..2500, "m:");
    let (_, check) = redis_cli(&["--cluster", "check", &format!("127.0.0.1:{d}")], 30);
    assert!(check.contains("[OK] All 16384 slots covered"), "{check}");
    assert!(
        check.contains("[OK] All nodes agree about slots configuration"),
        "{check}"
    );
}

#[test]
fn a_replica_migrates_to_a_master_that_lost_its_replicas() {
    let timeout = ["--cluster-node-timeout", "1000"];
    let dirs: Vec<TempDir> = (0..6)
        .map(|i| TempDir::new(&format!("cluster-migration-{i}")))
        .collect();
    let mut servers: Vec<Option<Server>> = dirs
        .iter()
        .map(|d| Some(ringkv_node(d, &timeout)))
        .collect();
    let ports: Vec<u16> = servers.iter().flatten().map(|s| s.port).collect();
    let (a, b) = (ports[0], ports[1]);
    create_cluster(&ports[..3], a);
    // a has two replicas, b one, the third master none.
    add_replica(ports[3], a, &ports[..4]);
    add_replica(ports[4], a, &ports[..5]);
    add_replica(ports[5], b, &ports);
    for &port in &ports {
        wait_ok(&mut Raw::connect(port));
    }
    fill(&mut cluster_client(a), 0..1000, "g:");
    let (a_id, b_id) = (myid(&mut Raw::connect(a)), myid(&mut Raw::connect(b)));
    // b's only replica goes: once it is marked failed, and b has been without a working
    // replica for 5 s, one of a's two replicas (the smaller ID) moves to b.
    drop(servers[5].take());
    let live: Vec<u16> = ports[..5].to_vec();
    let moved = eventually(Duration::from_secs(25), || {
        live.iter().all(|&p| {
            let nodes = text(&mut Raw::connect(p), "CLUSTER NODES");
            let of = |id: &str| {
                nodes
                    .lines()
                    .filter(|l| l.contains("slave") && !l.contains("fail") && l.contains(id))
                    .count()
            };
            of(&a_id) == 1 && of(&b_id) == 1
        })
    });
    assert!(moved, "{}", text(&mut Raw::connect(a), "CLUSTER NODES"));
    let ids: Vec<String> = [ports[3], ports[4]]
        .iter()
        .map(|&p| myid(&mut Raw::connect(p)))
        .collect();
    let migrated = if ids[0] < ids[1] { ports[3] } else { ports[4] };
    let line = node_line(migrated, &ids[usize::from(migrated == ports[4])]);
    assert!(
        line.contains("myself,slave") && line.contains(&b_id),
        "{line}"
    );
    assert_caught_up(b, migrated);
}
