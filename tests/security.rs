//! Security: AUTH / requirepass, ACL users and denials, ACL LOG, the ACL file, protected mode,
//! pre-auth limits, and clients that flood without reading. Exact reply bytes throughout.

mod common;

use common::{assert_scripts_match_redis, Raw, Server};

const NOAUTH: &[u8] = b"-NOAUTH Authentication required.\r\n";
const WRONGPASS: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
const OK: &[u8] = b"+OK\r\n";

fn ask(raw: &mut Raw, args: &[&[u8]]) -> Vec<u8> {
    raw.cmd(args);
    raw.reply()
}

fn bulk(text: &str) -> Vec<u8> {
    format!("${}\r\n{text}\r\n", text.len()).into_bytes()
}

#[test]
fn requirepass_and_auth() {
    for backend in common::backends() {
        let server = Server::start(2, backend, &["--requirepass", "foobar"]);
        let mut c = server.raw();
        assert_eq!(ask(&mut c, &[b"SET", b"foo", b"bar"]), NOAUTH);
        assert_eq!(ask(&mut c, &[b"PING"]), NOAUTH);
        assert_eq!(
            ask(&mut c, &[b"NOSUCH"]),
            b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n"
        );
        assert_eq!(ask(&mut c, &[b"AUTH", b"wrong!"]), WRONGPASS);
        assert_eq!(
            ask(&mut c, &[b"AUTH", b"a", b"b", b"c"]),
            b"-ERR syntax error\r\n"
        );
        assert_eq!(ask(&mut c, &[b"AUTH", b"nosuchuser", b"foobar"]), WRONGPASS);
        assert_eq!(ask(&mut c, &[b"AUTH", b"foobar"]), OK);
        assert_eq!(ask(&mut c, &[b"SET", b"foo", b"100"]), OK);
        assert_eq!(ask(&mut c, &[b"INCR", b"foo"]), b":101\r\n");
        assert_eq!(
            ask(&mut c, &[b"CONFIG", b"GET", b"requirepass"]),
            b"*2\r\n$11\r\nrequirepass\r\n$6\r\nfoobar\r\n"
        );

        let mut h = server.raw();
        assert_eq!(
            ask(&mut h, &[b"HELLO", b"3", b"AUTH", b"default", b"nope"]),
            WRONGPASS
        );
        let hello = ask(&mut h, &[b"HELLO", b"3", b"AUTH", b"default", b"foobar"]);
        assert!(hello.starts_with(b"%7\r\n$6\r\nserver\r\n"), "{hello:?}");
        assert_eq!(ask(&mut h, &[b"GET", b"foo"]), bulk("101"));

        // QUIT and RESET need no AUTH; RESET logs the connection out again.
        assert_eq!(ask(&mut h, &[b"RESET"]), b"+RESET\r\n");
        assert_eq!(ask(&mut h, &[b"GET", b"foo"]), NOAUTH);

        // A binary password, then no password at all: new connections need no AUTH.
        assert_eq!(
            ask(&mut c, &[b"CONFIG", b"SET", b"requirepass", b"abc\x00def"]),
            OK
        );
        let mut b = server.raw();
        assert_eq!(ask(&mut b, &[b"AUTH", b"abc"]), WRONGPASS);
        assert_eq!(ask(&mut b, &[b"AUTH", b"abc\x00def"]), OK);
        assert_eq!(ask(&mut c, &[b"CONFIG", b"SET", b"requirepass", b""]), OK);
        let mut open = server.raw();
        assert_eq!(ask(&mut open, &[b"GET", b"foo"]), bulk("101"));
        assert_eq!(
            ask(&mut open, &[b"AUTH", b"foo"]),
            b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"
        );
        assert_eq!(ask(&mut open, &[b"QUIT"]), OK);
        assert!(open.closed());
    }
}

fn admin_and_user(server: &Server, rules: &[&[u8]]) -> (Raw, Raw) {
    let mut admin = server.raw();
    let mut cmd: Vec<&[u8]> = vec![b"ACL", b"SETUSER", b"lim", b"on", b">pw"];
    cmd.extend_from_slice(rules);
    assert_eq!(ask(&mut admin, &cmd), OK);
    let mut user = server.raw();
    assert_eq!(ask(&mut user, &[b"AUTH", b"lim", b"pw"]), OK);
    (admin, user)
}

#[test]
fn acl_users_and_denials() {
    for backend in common::backends() {
        let server = Server::start(2, backend, &[]);
        let (mut admin, mut u) = admin_and_user(
            &server,
            &[b"-@all", b"+get", b"+set", b"+publish", b"~k*", b"&ch*"],
        );
        assert_eq!(
            ask(&mut u, &[b"ACL", b"WHOAMI"]),
            b"-NOPERM this user has no permissions to run the 'acl|whoami' command\r\n"
        );
        assert_eq!(ask(&mut u, &[b"SET", b"k1", b"v"]), OK);
        assert_eq!(ask(&mut u, &[b"GET", b"k1"]), bulk("v"));
        assert_eq!(
            ask(&mut u, &[b"GET", b"x"]),
            b"-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
        );
        assert_eq!(
            ask(&mut u, &[b"DEL", b"k1"]),
            b"-NOPERM this user has no permissions to run the 'del' command\r\n"
        );
        assert_eq!(
            ask(&mut u, &[b"PUBLISH", b"other", b"m"]),
            b"-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"
        );
        assert_eq!(ask(&mut u, &[b"PUBLISH", b"ch1", b"m"]), b":0\r\n");

        assert_eq!(
            ask(&mut admin, &[b"ACL", b"LIST"]),
            b"*2\r\n$34\r\nuser default on nopass ~* &* +@all\r\n$125\r\nuser lim on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~k* resetchannels &ch* -@all +get +set +publish\r\n".to_vec()
        );
        assert_eq!(
            ask(&mut admin, &[b"ACL", b"USERS"]),
            b"*2\r\n$7\r\ndefault\r\n$3\r\nlim\r\n"
        );
        assert_eq!(ask(&mut admin, &[b"ACL", b"WHOAMI"]), bulk("default"));

        // ACL LOG: newest first; one entry per (reason, object, user), counted.
        assert_eq!(
            ask(&mut u, &[b"GET", b"x"]),
            b"-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
        );
        let log = ask(&mut admin, &[b"ACL", b"LOG", b"1"]);
        let text = String::from_utf8_lossy(&log);
        assert!(
            text.starts_with("*1\r\n*14\r\n$5\r\ncount\r\n:2\r\n$6\r\nreason\r\n$3\r\nkey\r\n$7\r\ncontext\r\n$8\r\ntoplevel\r\n$6\r\nobject\r\n$1\r\nx\r\n$8\r\nusername\r\n$3\r\nlim\r\n$11\r\nage-seconds\r\n"),
            "{text}"
        );
        assert!(text.contains("user=lim"), "{text}");
        let all = String::from_utf8_lossy(&ask(&mut admin, &[b"ACL", b"LOG"])).into_owned();
        assert!(all.starts_with("*4\r\n"), "{all}");
        for object in ["$5\r\nother", "$3\r\ndel", "$10\r\nacl|whoami"] {
            assert!(all.contains(object), "{object} in {all}");
        }
        assert_eq!(ask(&mut admin, &[b"ACL", b"LOG", b"RESET"]), OK);
        assert_eq!(ask(&mut admin, &[b"ACL", b"LOG"]), b"*0\r\n");
        assert_eq!(ask(&mut admin, &[b"AUTH", b"lim", b"bad"]), WRONGPASS);
        let log = String::from_utf8_lossy(&ask(&mut admin, &[b"ACL", b"LOG"])).into_owned();
        assert!(
            log.contains("$6\r\nreason\r\n$4\r\nauth\r\n$7\r\ncontext\r\n$8\r\ntoplevel\r\n$6\r\nobject\r\n$4\r\nAUTH\r\n$8\r\nusername\r\n$3\r\nlim\r\n"),
            "{log}"
        );

        // MULTI: a refused command is answered NOPERM and the transaction aborts.
        assert_eq!(ask(&mut u, &[b"SET", b"k2", b"v"]), OK);
        let mut admin2 = server.raw();
        assert_eq!(
            ask(
                &mut admin2,
                &[b"ACL", b"SETUSER", b"lim", b"+multi", b"+exec"]
            ),
            OK
        );
        assert_eq!(ask(&mut u, &[b"MULTI"]), OK);
        assert_eq!(ask(&mut u, &[b"SET", b"k3", b"v"]), b"+QUEUED\r\n");
        assert_eq!(
            ask(&mut u, &[b"INCR", b"k3"]),
            b"-NOPERM this user has no permissions to run the 'incr' command\r\n"
        );
        assert_eq!(
            ask(&mut u, &[b"EXEC"]),
            b"-EXECABORT Transaction discarded because of previous errors.\r\n"
        );

        // A user switched off keeps its connections but cannot log in; deleting it disconnects.
        assert_eq!(ask(&mut admin, &[b"ACL", b"SETUSER", b"lim", b"off"]), OK);
        let mut other = server.raw();
        assert_eq!(ask(&mut other, &[b"AUTH", b"lim", b"pw"]), WRONGPASS);
        assert_eq!(ask(&mut u, &[b"GET", b"k1"]), bulk("v"));
        assert_eq!(
            ask(&mut admin, &[b"ACL", b"DELUSER", b"default"]),
            b"-ERR The 'default' user cannot be removed\r\n"
        );
        assert_eq!(
            ask(&mut admin, &[b"ACL", b"DELUSER", b"lim", b"nosuch"]),
            b":1\r\n"
        );
        assert!(u.closed());
        assert_eq!(ask(&mut admin, &[b"ACL", b"GETUSER", b"lim"]), b"$-1\r\n");
    }
}

#[test]
fn acl_categories_and_subcommands() {
    let server = Server::start(2, "epoll", &[]);
    let (mut admin, mut u) = admin_and_user(
        &server,
        &[
            b"nopass",
            b"+@all",
            b"-@dangerous",
            b"allkeys",
            b"allchannels",
        ],
    );
    assert_eq!(ask(&mut u, &[b"SET", b"a", b"1"]), OK);
    assert_eq!(
        ask(&mut u, &[b"FLUSHALL"]),
        b"-NOPERM this user has no permissions to run the 'flushall' command\r\n"
    );
    assert_eq!(
        ask(&mut u, &[b"CONFIG", b"SET", b"timeout", b"0"]),
        b"-NOPERM this user has no permissions to run the 'config|set' command\r\n"
    );
    assert_eq!(ask(&mut u, &[b"CLIENT", b"SETNAME", b"x"]), OK);
    assert_eq!(ask(&mut u, &[b"AUTH", b"lim", b"whatever"]), OK);
    assert_eq!(
        ask(&mut admin, &[b"ACL", b"SETUSER", b"lim", b"+config|get"]),
        OK
    );
    assert_eq!(
        ask(&mut u, &[b"CONFIG", b"GET", b"timeout"]),
        b"*2\r\n$7\r\ntimeout\r\n$1\r\n0\r\n"
    );
    let rules = ask(&mut admin, &[b"ACL", b"GETUSER", b"lim"]);
    let text = String::from_utf8_lossy(&rules);
    assert!(text.contains("+@all -@dangerous"), "{text}");
    assert!(text.contains("+config|get"), "{text}");
    assert_eq!(
        ask(&mut admin, &[b"ACL", b"CAT", b"nosuch"]),
        b"-ERR Unknown category 'nosuch'\r\n"
    );
    let cat = ask(&mut admin, &[b"ACL", b"CAT"]);
    assert!(cat.starts_with(b"*21\r\n$8\r\nkeyspace\r\n$4\r\nread\r\n"));
    let strings =
        String::from_utf8_lossy(&ask(&mut admin, &[b"ACL", b"CAT", b"string"])).into_owned();
    assert!(strings.contains("\r\nincrbyfloat\r\n") && !strings.contains("\r\nlpush\r\n"));
}

#[test]
fn acl_texts_match_redis() {
    assert_scripts_match_redis(&[&[
        "ACL SETUSER alice on >pw +@all -@dangerous ~foo* &ch*",
        "ACL GETUSER alice",
        "ACL SETUSER bob",
        "ACL GETUSER bob",
        "ACL SETUSER bob reset",
        "ACL GETUSER bob",
        "ACL SETUSER bob +nosuch",
        "ACL SETUSER bob #abc",
        "ACL SETUSER bob foo",
        "ACL SETUSER bob allkeys ~x",
        "ACL SETUSER bob allchannels &x",
        "ACL SETUSER bob <nopw",
        "ACL SETUSER bob %X~x",
        "ACL SETUSER \"b b\"",
        "ACL SETUSER carol on nopass -@all +get ~k* %R~r* %W~w*",
        "ACL GETUSER carol",
        "ACL GETUSER nosuch",
        "ACL DELUSER default",
        "ACL DELUSER alice bob carol nosuch",
        "ACL CAT nosuch",
        "ACL WHOAMI",
        "ACL SAVE",
        "ACL LOAD",
        "ACL NOSUCH",
        "ACL SETUSER",
        "ACL GENPASS 0",
        "AUTH x",
        "AUTH a b c",
        "AUTH nosuch pw",
    ]]);
}

#[test]
fn aclfile_save_and_load() {
    let dir = std::env::temp_dir().join(format!("ringkv-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("users.acl");
    std::fs::write(
        &path,
        "user default on nopass ~* &* +@all\nuser bob on >pw ~b* -@all +get\n",
    )
    .unwrap();
    let server = Server::start(2, "epoll", &["--aclfile", path.to_str().unwrap()]);
    let mut c = server.raw();
    assert_eq!(ask(&mut c, &[b"AUTH", b"bob", b"pw"]), OK);
    assert_eq!(ask(&mut c, &[b"AUTH", b"default", b"x"]), OK);
    assert_eq!(
        ask(
            &mut c,
            &[
                b"ACL",
                b"SETUSER",
                b"carol",
                b"on",
                b"#30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4",
                b"+@read",
                b"~*"
            ]
        ),
        OK
    );
    assert_eq!(ask(&mut c, &[b"ACL", b"SAVE"]), OK);
    let saved = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        saved,
        "user bob on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~b* resetchannels -@all +get\n\
         user carol on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~* resetchannels -@all +@read\n\
         user default on nopass ~* &* +@all\n"
    );
    // Edit the file by hand and load it back; a bad file changes nothing.
    std::fs::write(
        &path,
        "user default on nopass ~* &* +@all\nuser dave on nopass +ping\n",
    )
    .unwrap();
    let mut bob = server.raw();
    assert_eq!(ask(&mut bob, &[b"AUTH", b"bob", b"pw"]), OK);
    assert_eq!(ask(&mut c, &[b"ACL", b"LOAD"]), OK);
    assert!(bob.closed());
    assert_eq!(
        ask(&mut c, &[b"ACL", b"USERS"]),
        b"*2\r\n$4\r\ndave\r\n$7\r\ndefault\r\n"
    );
    std::fs::write(&path, "user x +nosuch\nfoo\n").unwrap();
    let error = ask(&mut c, &[b"ACL", b"LOAD"]);
    let p = path.to_str().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&error),
        format!("-ERR {p}:1: Error in applying operation '+nosuch': Unknown command or category name in ACL. {p}:2 should start with user keyword followed by the username. \r\n")
    );
    assert_eq!(
        ask(&mut c, &[b"ACL", b"USERS"]),
        b"*2\r\n$4\r\ndave\r\n$7\r\ndefault\r\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
