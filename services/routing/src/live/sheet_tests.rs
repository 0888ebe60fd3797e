use super::*;
use crate::domain::Capacity;

fn agent(user: &str) -> Agent {
    Agent {
        user: user.into(),
        display_name: String::new(),
        groups: vec!["g".into()],
        skills: Default::default(),
        languages: vec![],
        capacity: Capacity::default(),
        version: 1,
    }
}

fn directory(users: &[&str]) -> Vec<Agent> {
    users.iter().map(|u| agent(u)).collect()
}

fn fits(indexes: &[usize]) -> Vec<Fit> {
    indexes
        .iter()
        .map(|&index| Fit {
            index,
            limit: 1,
            score: 0,
        })
        .collect()
}

fn seen(presence: Presence, chat: u32) -> Seen {
    let mut load = [0; CHANNELS.len()];
    load[slot(Channel::Chat).unwrap()] = chat;
    Seen { presence, load }
}

fn sheet(epoch: i64, agents: &[(&str, Seen)]) -> Sheet {
    Sheet {
        epoch,
        agents: agents.iter().map(|(u, s)| ((*u).to_owned(), *s)).collect(),
        last: HashMap::from([("g".to_owned(), "ana".to_owned())]),
    }
}

fn sheets() -> Sheets {
    let s = Sheets::default();
    s.put("t", sheet(7, &[("ana", seen(Presence::Online, 2))]));
    s
}

const AGE: Duration = Duration::from_secs(5);

/// The chat view of `picks` among `agents` (directory `dir`).
fn chat(s: &Sheets, dir: u64, agents: &[Agent], picks: &[usize]) -> Option<View> {
    let picks = fits(picks);
    let among = Among {
        dir,
        agents,
        picks: &picks,
    };
    s.view("t", slot(Channel::Chat).unwrap(), "g", among, AGE)
}

#[test]
fn a_view_reads_the_channel_and_defaults_unknown_agents_to_offline() {
    let s = sheets();
    let dir = directory(&["ana", "bo"]);
    let v = chat(&s, 1, &dir, &[0, 1]).unwrap();
    assert_eq!(
        v.agents,
        vec![(Presence::Online, 2), (Presence::Offline, 0)]
    );
    assert_eq!(
        (v.last.as_deref(), v.fresh, v.epoch),
        (Some("ana"), false, 7)
    );
    let picks = fits(&[1, 0]);
    let among = Among {
        dir: 1,
        agents: &dir,
        picks: &picks,
    };
    let email = slot(Channel::Email).unwrap();
    let v = s.view("t", email, "other", among, AGE).unwrap();
    assert_eq!(
        (v.agents, v.last),
        (vec![(Presence::Offline, 0), (Presence::Online, 0)], None)
    );
    assert!(s.view("u", email, "g", among, AGE).is_none(), "no copy yet");
}

#[test]
fn an_old_copy_is_not_read() {
    let s = sheets();
    std::thread::sleep(Duration::from_millis(5));
    let dir = directory(&["ana"]);
    let picks = fits(&[0]);
    let among = Among {
        dir: 1,
        agents: &dir,
        picks: &picks,
    };
    assert!(
        s.view("t", 0, "g", among, Duration::from_millis(1))
            .is_none()
    );
}

#[test]
fn reported_truth_corrects_the_copy() {
    let s = sheets();
    let dir = directory(&["ana", "bo"]);
    // Worked out where the directory's agents sit while bo had no slot.
    assert_eq!(
        chat(&s, 1, &dir, &[1]).unwrap().agents,
        [(Presence::Offline, 0)]
    );
    let since = s.now();
    s.presence(since, "t", "bo", Presence::Away);
    s.load(since, "t", "ana", Channel::Chat, 3);
    s.last(since, "t", "g", "bo");
    // Nothing is recorded for a tenant without a copy: it is read whole later.
    s.load(since, "u", "ana", Channel::Chat, 9);
    let v = chat(&s, 1, &dir, &[0, 1]).unwrap();
    assert_eq!(v.agents, vec![(Presence::Online, 3), (Presence::Away, 0)]);
    assert_eq!(v.last.as_deref(), Some("bo"));
    assert_eq!(v.epoch, 7, "the copy keeps the epoch it was read at");
}

#[test]
fn an_answer_older_than_the_copy_does_not_correct_it() {
    let s = sheets();
    let before = s.now();
    // A copy read while the answer was on its way may already hold a
    // later truth, vouched for by its epoch.
    s.put("t", sheet(8, &[("ana", seen(Presence::Online, 1))]));
    s.presence(before, "t", "ana", Presence::Offline);
    s.load(before, "t", "ana", Channel::Chat, 5);
    s.last(before, "t", "g", "bo");
    let dir = directory(&["ana"]);
    let v = chat(&s, 1, &dir, &[0]).unwrap();
    assert_eq!(
        (v.agents, v.last.as_deref(), v.epoch),
        (vec![(Presence::Online, 1)], Some("ana"), 8)
    );
    s.load(s.now(), "t", "ana", Channel::Chat, 5);
    let v = chat(&s, 1, &dir, &[0]).unwrap();
    assert_eq!(v.agents, vec![(Presence::Online, 5)]);
}

#[test]
fn each_directory_reads_its_own_agents_across_copies() {
    let s = sheets();
    let old = directory(&["ana", "bo"]);
    assert_eq!(
        chat(&s, 1, &old, &[0]).unwrap().agents,
        [(Presence::Online, 2)]
    );
    // A new directory (bo left, cy joined) and a new copy with cy in it.
    let new = directory(&["ana", "cy"]);
    s.put(
        "t",
        sheet(
            9,
            &[
                ("cy", seen(Presence::Online, 1)),
                ("ana", seen(Presence::Away, 0)),
            ],
        ),
    );
    assert_eq!(
        chat(&s, 2, &new, &[1, 0]).unwrap().agents,
        [(Presence::Online, 1), (Presence::Away, 0)]
    );
    assert_eq!(
        chat(&s, 1, &old, &[1, 0]).unwrap().agents,
        [(Presence::Offline, 0), (Presence::Away, 0)],
        "bo is not in the new copy"
    );
}

#[test]
fn numbering_starts_again_when_most_slots_are_of_departed_agents() {
    let s = Sheets::default();
    let crowd: Vec<String> = (0..3000).map(|i| format!("u{i}")).collect();
    let all: Vec<(&str, Seen)> = crowd
        .iter()
        .map(|u| (u.as_str(), seen(Presence::Online, 0)))
        .collect();
    s.put("t", sheet(1, &all));
    let dir = directory(&["u5", "zed"]);
    assert_eq!(
        chat(&s, 1, &dir, &[0, 1]).unwrap().agents[0],
        (Presence::Online, 0)
    );
    s.put("t", sheet(2, &[("zed", seen(Presence::Online, 4))]));
    let slots = s.with(|t| t.by_id["t"].slots.len());
    assert_eq!(slots, 1, "only zed keeps a slot");
    assert_eq!(
        chat(&s, 1, &dir, &[0, 1]).unwrap().agents,
        [(Presence::Offline, 0), (Presence::Online, 4)],
        "the same directory's layout is worked out again"
    );
}
