use super::*;

fn state_with(slots: &[(usize, usize)]) -> ClusterState {
    let mut state = ClusterState::fresh(PathBuf::from("/nonexistent/nodes.conf"));
    state.me_mut().port = 7000;
    state.me_mut().cport = 17000;
    for &(a, b) in slots {
        for s in a..=b {
            state.assign(s, 0);
        }
    }
    state
}

#[test]
fn node_ids_are_forty_hex_characters_and_differ() {
    let (a, b) = (random_id(), random_id());
    assert_eq!(a.len(), ID_LEN);
    assert!(a
        .bytes()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_ne!(a, b);
}

#[test]
fn nodes_line_lists_ranges_and_single_slots_as_redis_does() {
    let state = state_with(&[(0, 100), (200, 200), (16383, 16383)]);
    let id = state.me().id.clone();
    assert_eq!(
        state.describe(0, false),
        format!("{id} :7000@17000 myself,master - 0 0 0 connected 0-100 200 16383\n")
    );
}

#[test]
fn nodes_conf_round_trips_with_other_nodes_and_open_slots() {
    let me = "a".repeat(40);
    let other = "b".repeat(40);
    let replica = "c".repeat(40);
    let text = format!(
        "{other} 127.0.0.1:7001@17001,host-b master - 0 1700000000 2 connected 5461-10922\n\
         {me} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [5460->-{other}] [6000-<-{other}]\n\
         {replica} 127.0.0.1:7002@17002 slave {me} 0 0 0 disconnected\n\
         vars currentEpoch 5 lastVoteEpoch 3\n"
    );
    let mut state = nodes_conf::parse(text.as_bytes(), PathBuf::from("x")).expect("parses");
    // A pong time in the file loads as the present, as Redis loads it.
    let b = state.lookup(other.as_bytes()).unwrap();
    assert!(state.nodes[b].pong_received + 60_000 > crate::shard::unix_ms());
    state.nodes[b].pong_received = 1_700_000_000;
    assert_eq!(state.me().id, me);
    assert_eq!((state.current_epoch, state.last_vote_epoch), (5, 3));
    assert_eq!(state.owner(0), Some(state.myself));
    assert_eq!(state.owner(6000), state.lookup(other.as_bytes()));
    assert_eq!(
        state.nodes[state.lookup(other.as_bytes()).unwrap()].hostname,
        "host-b"
    );
    let again = nodes_conf::parse(
        format!(
            "{}vars currentEpoch 5 lastVoteEpoch 3\n",
            state.describe(0, true)
        )
        .as_bytes(),
        PathBuf::from("x"),
    )
    .expect("parses its own output");
    let mut again = again;
    again.nodes[b].pong_received = 1_700_000_000;
    assert_eq!(again.describe(0, true), state.describe(0, true));
    // The replica line shows its master's config epoch.
    assert!(state.describe(0, false).contains(&format!(
        "{replica} 127.0.0.1:7002@17002 slave {me} 0 0 1 disconnected"
    )));
    assert!(state
        .describe(0, false)
        .contains(&format!("[5460->-{other}] [6000-<-{other}]")));
}

#[test]
fn corrupt_nodes_conf_is_refused() {
    let me = "a".repeat(40);
    for bad in [
        "vars currentEpoch".to_string(),
        format!("{me} 127.0.0.1:7000@17000 myself,master - 0 0\n"),
        format!("{me} 127.0.0.1:7000@17000 master - 0 0 0 connected\n"),
        "short 127.0.0.1:7000@17000 myself,master - 0 0 0 connected\n".to_string(),
        format!("{me} 127.0.0.1:7000@17000 myself,master - 0 0 0 connected 16384\n"),
        format!("{me} 127.0.0.1:7000@17000 myself,bogus - 0 0 0 connected\n"),
    ] {
        assert!(
            nodes_conf::parse(bad.as_bytes(), PathBuf::from("x")).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn state_turns_ok_with_full_coverage_after_the_writable_delay() {
    let settings = Settings::from_config(&crate::config::Config::default());
    let mut state = state_with(&[(0, 16383)]);
    let start = std::time::Instant::now();
    state.update_state(&settings, start);
    assert!(!state.ok, "a master waits 2 s before serving");
    state.update_state(&settings, start + std::time::Duration::from_millis(2100));
    assert!(state.ok);
    assert_eq!(state.size, 1);
    state.unassign(7);
    state.update_state(&settings, start + std::time::Duration::from_millis(2200));
    assert!(!state.ok, "a slot without owner fails the cluster");
    let relaxed = Settings {
        require_full_coverage: false,
        ..settings
    };
    state.update_state(&relaxed, start + std::time::Duration::from_millis(2300));
    assert!(state.ok, "coverage not required");
}

#[test]
fn bump_epoch_only_when_not_already_the_largest() {
    let mut state = state_with(&[]);
    assert!(state.bump_epoch());
    assert_eq!((state.current_epoch, state.me().config_epoch), (1, 1));
    assert!(!state.bump_epoch());
    state.current_epoch = 4;
    assert!(state.bump_epoch());
    assert_eq!(state.me().config_epoch, 5);
}

#[test]
fn forgetting_a_node_frees_its_slots_and_keeps_the_others() {
    let mut state = state_with(&[(0, 10)]);
    state.nodes.insert(0, Node::new("b".repeat(40), MASTER));
    state.myself = 1;
    for s in 0..=10 {
        state.assign(s, 1);
    }
    state.assign(20, 0);
    state.remove_node(0);
    assert_eq!(state.myself, 0);
    assert_eq!(state.owner(5), Some(0));
    assert_eq!(state.owner(20), None);
}
