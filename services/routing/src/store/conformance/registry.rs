//! The behaviour every [`Registry`] backend must show.

use switchboard_proto::routing::v1 as pb;

use super::{agent, job, tenant};
use crate::{
    domain::{EscalationAction, Group, OfflinePolicy, RoutingRule, Strategy, rules},
    store::{Queue, Registry, StoreError},
};

fn group(id: &str) -> Group {
    Group {
        display_name: format!("Group {id}"),
        strategy: Strategy::RoundRobin,
        offline_policy: OfflinePolicy::Return,
        on_breach: Some(EscalationAction {
            raise_priority: true,
            ..Default::default()
        }),
        ..Group::new(id)
    }
}

fn rule_set(names: &[&str]) -> Vec<RoutingRule> {
    use switchboard_proto::common::v1::{
        Condition, ConditionValue, Conditions, condition_value::Kind,
    };
    let raw = pb::RoutingRules {
        rules: names
            .iter()
            .map(|name| pb::RoutingRule {
                name: (*name).into(),
                enabled: true,
                conditions: Some(Conditions {
                    all: vec![Condition {
                        field: "language".into(),
                        operator: "is".into(),
                        value: Some(ConditionValue {
                            kind: Some(Kind::Text("de".into())),
                        }),
                    }],
                    any: vec![],
                }),
                actions: Some(pb::RoutingActions {
                    group: format!("{name}-team"),
                    required_skills: vec![pb::Skill {
                        name: "de".into(),
                        level: 2,
                    }],
                    add_tags: vec![format!("routed-{name}")],
                    ..Default::default()
                }),
            })
            .collect(),
        version: 0,
    };
    rules::from_proto(&raw).expect("valid rules")
}

fn users(list: &[crate::domain::Agent]) -> Vec<&str> {
    list.iter().map(|a| a.user.as_str()).collect()
}

/// A created agent reads back equal at version 1, under its tenant only; a
/// second create of the user is refused; a deleted agent is gone.
pub async fn agents_create_get_delete(store: &dyn Registry) {
    let acme = tenant("acme");
    let ann = agent("ann", &["billing", "sales"]);
    let created = store.create_agent(&acme, &ann).await.expect("create");
    let want = crate::domain::Agent {
        version: 1,
        ..ann.clone()
    };
    assert_eq!(created, want);
    assert_eq!(store.get_agent(&acme, "ann").await.expect("get"), want);

    let again = agent("ann", &["other"]);
    assert!(
        matches!(
            store.create_agent(&acme, &again).await,
            Err(StoreError::AlreadyExists(_))
        ),
        "a second create of one user is refused"
    );
    assert_eq!(
        store.get_agent(&acme, "ann").await.expect("get"),
        want,
        "the refused create changed nothing"
    );

    let globex = tenant("globex");
    assert!(matches!(
        store.get_agent(&globex, "ann").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_agent(&globex, "ann").await,
        Err(StoreError::NotFound(_))
    ));
    // The same user id in another tenant is another agent.
    store
        .create_agent(&globex, &agent("ann", &["support"]))
        .await
        .expect("create in another tenant");

    store.delete_agent(&acme, "ann").await.expect("delete");
    assert!(matches!(
        store.get_agent(&acme, "ann").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_agent(&acme, "ann").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.get_agent(&globex, "ann").await.expect("get").groups,
        vec!["support".to_owned()],
        "deleting in one tenant leaves the other alone"
    );
}

/// An update at the current version stores the agent one version on; a
/// stale version is a conflict naming both versions; a missing agent is
/// not found.
pub async fn agents_update_checks_versions(store: &dyn Registry) {
    let acme = tenant("acme");
    let ann = store
        .create_agent(&acme, &agent("ann", &["billing"]))
        .await
        .expect("create");
    let mut changed = ann.clone();
    changed.display_name = "Ann B.".into();
    changed.groups = vec!["billing".into(), "vip".into()];
    changed.skills.insert("fr".into(), 4);
    changed.languages = vec!["fr".into()];
    changed.capacity.default = 7;
    let updated = store
        .update_agent(&acme, &changed, 1)
        .await
        .expect("update");
    let want = crate::domain::Agent {
        version: 2,
        ..changed.clone()
    };
    assert_eq!(updated, want);
    assert_eq!(store.get_agent(&acme, "ann").await.expect("get"), want);

    let mut stale = changed.clone();
    stale.display_name = "lost".into();
    match store.update_agent(&acme, &stale, 1).await {
        Err(StoreError::Conflict { expected, current }) => {
            assert_eq!((expected, current), (1, 2));
        }
        other => panic!("stale update: {other:?}"),
    }
    assert_eq!(
        store.get_agent(&acme, "ann").await.expect("get"),
        want,
        "the stale update changed nothing"
    );

    let ghost = agent("ghost", &[]);
    assert!(matches!(
        store.update_agent(&acme, &ghost, 1).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.update_agent(&tenant("globex"), &changed, 2).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Agents list in user-id order, after the cursor, of the group when one is
/// given, at most `limit`, of the tenant only.
pub async fn agents_list_by_group_and_cursor(store: &dyn Registry) {
    let acme = tenant("acme");
    for (user, groups) in [
        ("dan", &["sales"][..]),
        ("ann", &["billing", "sales"][..]),
        ("cy", &["billing"][..]),
        ("bo", &[][..]),
    ] {
        store
            .create_agent(&acme, &agent(user, groups))
            .await
            .expect("create");
    }
    store
        .create_agent(&tenant("globex"), &agent("al", &["sales"]))
        .await
        .expect("create");

    let all = store.list_agents(&acme, None, "", 100).await.expect("list");
    assert_eq!(users(&all), ["ann", "bo", "cy", "dan"]);
    assert!(all.iter().all(|a| a.version == 1));
    assert_eq!(all[0], {
        let mut a = agent("ann", &["billing", "sales"]);
        a.version = 1;
        a
    });
    let sales = store
        .list_agents(&acme, Some("sales"), "", 100)
        .await
        .expect("list");
    assert_eq!(users(&sales), ["ann", "dan"]);
    let after = store
        .list_agents(&acme, None, "bo", 100)
        .await
        .expect("list");
    assert_eq!(users(&after), ["cy", "dan"]);
    let page = store.list_agents(&acme, None, "", 2).await.expect("list");
    assert_eq!(users(&page), ["ann", "bo"]);
    let billing_after = store
        .list_agents(&acme, Some("billing"), "ann", 100)
        .await
        .expect("list");
    assert_eq!(users(&billing_after), ["cy"]);
    let none = store
        .list_agents(&acme, Some("nobody"), "", 100)
        .await
        .expect("list");
    assert!(none.is_empty());
    assert_eq!(
        users(&store.all_agents(&acme).await.expect("all")),
        ["ann", "bo", "cy", "dan"]
    );
    assert_eq!(
        users(&store.all_agents(&tenant("globex")).await.expect("all")),
        ["al"]
    );
    assert!(
        store
            .all_agents(&tenant("initech"))
            .await
            .expect("all")
            .is_empty()
    );
}

/// Groups: create at version 1 and read back equal, a taken id refused,
/// updates checked by version, listed in id order per tenant, deleted.
pub async fn groups_create_get_update_list_delete(store: &dyn Registry) {
    let acme = tenant("acme");
    assert!(store.list_groups(&acme).await.expect("list").is_empty());
    let billing = group("billing");
    let created = store.create_group(&acme, &billing).await.expect("create");
    let want = Group {
        version: 1,
        ..billing.clone()
    };
    assert_eq!(created, want);
    assert_eq!(store.get_group(&acme, "billing").await.expect("get"), want);
    assert!(matches!(
        store.create_group(&acme, &Group::new("billing")).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.get_group(&acme, "billing").await.expect("get"), want);
    assert!(matches!(
        store.get_group(&tenant("globex"), "billing").await,
        Err(StoreError::NotFound(_))
    ));

    let mut changed = created.clone();
    changed.display_name = "Money".into();
    changed.strategy = Strategy::LeastLoaded;
    changed.on_warning = Some(EscalationAction {
        reassign_group: Some("escalations".into()),
        ..Default::default()
    });
    let updated = store
        .update_group(&acme, &changed, 1)
        .await
        .expect("update");
    let want = Group {
        version: 2,
        ..changed.clone()
    };
    assert_eq!(updated, want);
    assert_eq!(store.get_group(&acme, "billing").await.expect("get"), want);
    match store.update_group(&acme, &created, 1).await {
        Err(StoreError::Conflict { expected, current }) => {
            assert_eq!((expected, current), (1, 2));
        }
        other => panic!("stale update: {other:?}"),
    }
    assert_eq!(store.get_group(&acme, "billing").await.expect("get"), want);
    assert!(matches!(
        store.update_group(&acme, &Group::new("ghost"), 1).await,
        Err(StoreError::NotFound(_))
    ));

    store
        .create_group(&acme, &group("alpha"))
        .await
        .expect("create");
    store
        .create_group(&acme, &group("zulu"))
        .await
        .expect("create");
    store
        .create_group(&tenant("globex"), &group("beta"))
        .await
        .expect("create");
    let ids = |list: Vec<Group>| list.into_iter().map(|g| g.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_groups(&acme).await.expect("list")),
        ["alpha", "billing", "zulu"]
    );
    let listed = store.list_groups(&acme).await.expect("list");
    assert_eq!(listed[1], want, "listed groups carry body and version");

    store.delete_group(&acme, "billing").await.expect("delete");
    assert!(matches!(
        store.get_group(&acme, "billing").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_group(&acme, "billing").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_group(&acme, "beta").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        ids(store.list_groups(&acme).await.expect("list")),
        ["alpha", "zulu"]
    );
    assert_eq!(
        ids(store.list_groups(&tenant("globex")).await.expect("list")),
        ["beta"]
    );
}

/// Deleting a group empties its queue and leaves other groups' queues.
pub async fn delete_group_drops_its_queue(registry: &dyn Registry, queue: &dyn Queue) {
    use switchboard_proto::common::v1::Priority;
    let acme = tenant("acme");
    registry
        .create_group(&acme, &group("billing"))
        .await
        .expect("create");
    let gone = job("billing", Priority::Normal, None, 0);
    let kept = job("sales", Priority::Normal, None, 0);
    for j in [&gone, &kept] {
        assert!(
            queue
                .enqueue(
                    &acme,
                    j,
                    Box::new(|n| crate::events::queued(&acme, j, n, vec![]))
                )
                .await
                .expect("enqueue")
        );
    }
    registry
        .delete_group(&acme, "billing")
        .await
        .expect("delete");
    assert_eq!(
        queue.queue_depth(&acme, "billing").await.expect("depth").0,
        0
    );
    assert_eq!(queue.queue_depth(&acme, "sales").await.expect("depth").0, 1);
    assert!(
        !queue
            .remove_waiting(&acme, gone.ticket)
            .await
            .expect("remove"),
        "the group's ticket left the queue"
    );
}

/// The rule set reads back as saved, each save one version on, per tenant;
/// never saved is empty at version 0.
pub async fn rules_round_trip_with_versions(store: &dyn Registry) {
    let acme = tenant("acme");
    let (empty, version) = store.rules(&acme).await.expect("rules");
    assert!(empty.is_empty());
    assert_eq!(version, 0);

    let first = rule_set(&["vip", "german"]);
    assert_eq!(store.put_rules(&acme, &first).await.expect("put"), 1);
    assert_eq!(store.rules(&acme).await.expect("rules"), (first, 1));

    let second = rule_set(&["french"]);
    assert_eq!(store.put_rules(&acme, &second).await.expect("put"), 2);
    assert_eq!(
        store.rules(&acme).await.expect("rules"),
        (second.clone(), 2)
    );

    let globex = tenant("globex");
    assert_eq!(store.rules(&globex).await.expect("rules"), (vec![], 0));
    assert_eq!(
        store
            .put_rules(&globex, &rule_set(&["other"]))
            .await
            .expect("put"),
        1,
        "versions count per tenant"
    );
    assert_eq!(store.rules(&acme).await.expect("rules"), (second, 2));

    assert_eq!(store.put_rules(&acme, &[]).await.expect("put"), 3);
    assert_eq!(store.rules(&acme).await.expect("rules"), (vec![], 3));
}
