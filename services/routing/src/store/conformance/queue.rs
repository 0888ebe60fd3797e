//! The behaviour every [`Queue`] backend must show.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use switchboard_proto::common::v1::Priority;
use switchboard_runtime::TenantId;
use uuid::Uuid;

use super::{job, tenant};
use crate::{
    domain::Job,
    events,
    store::{Queue, Waiting},
};

const LEASE: Duration = Duration::from_secs(30);

/// Enqueues `j`; whether it was new.
async fn put(q: &dyn Queue, t: &TenantId, j: &Job) -> bool {
    q.enqueue(t, j, Box::new(|n| events::queued(t, j, n, vec![])))
        .await
        .expect("enqueue")
}

fn tickets(list: &[Waiting]) -> Vec<Uuid> {
    list.iter().map(|w| w.job.ticket).collect()
}

/// A new ticket joins the queue and its event is built from the group's
/// waiting count, itself included; enqueueing it again updates the entry
/// without a new event.
pub async fn enqueue_is_new_once(q: &dyn Queue) {
    let acme = tenant("acme");
    let first = job("billing", Priority::Normal, None, 0);
    let second = job("billing", Priority::Normal, None, 1);
    let counts = Mutex::new(Vec::new());
    for j in [&first, &second] {
        let new = q
            .enqueue(
                &acme,
                j,
                Box::new(|n| {
                    counts.lock().unwrap().push(n);
                    events::queued(&acme, j, n, vec![])
                }),
            )
            .await
            .expect("enqueue");
        assert!(new);
    }
    assert_eq!(*counts.lock().unwrap(), [1, 2]);

    let mut moved = first.clone();
    moved.priority = Priority::Urgent as i32;
    moved.version = 9;
    let new = q
        .enqueue(
            &acme,
            &moved,
            Box::new(|n| {
                counts.lock().unwrap().push(n);
                events::queued(&acme, &moved, n, vec![])
            }),
        )
        .await
        .expect("enqueue");
    assert!(!new, "a waiting ticket is not new");
    assert_eq!(counts.lock().unwrap().len(), 2, "no event for an update");
    assert_eq!(q.queue_depth(&acme, "billing").await.expect("depth").0, 2);
    let leased = q.lease(&acme, None, 10, LEASE).await.expect("lease");
    assert_eq!(leased.len(), 2);
    assert_eq!(leased[0].job, moved, "the entry holds the updated job");
    assert_eq!(leased[1].job, second);
}

/// Leases come in queue order: higher priority, then earlier SLA due time
/// (none last), then the older ticket; `limit` takes the heads.
pub async fn lease_follows_queue_order(q: &dyn Queue) {
    let acme = tenant("acme");
    let a = job("billing", Priority::Normal, None, 0);
    let b = job("billing", Priority::High, None, 5);
    let c = job("billing", Priority::Normal, Some(60), 10);
    let d = job("billing", Priority::Normal, Some(30), 20);
    let e = job("billing", Priority::Normal, None, -10);
    let f = job("billing", Priority::Low, Some(1), -100);
    for j in [&a, &c, &f, &e, &b, &d] {
        assert!(put(q, &acme, j).await);
    }
    let mut order = Vec::new();
    for want in [2, 2, 2, 0] {
        let got = q.lease(&acme, None, 2, LEASE).await.expect("lease");
        assert_eq!(got.len(), want);
        order.extend(tickets(&got));
    }
    assert_eq!(
        order,
        [b.ticket, d.ticket, c.ticket, e.ticket, a.ticket, f.ticket]
    );
}

/// A leased ticket is not leased again, by this caller or another, until it
/// is released; re-enqueueing it also releases it.
pub async fn leased_tickets_are_skipped_until_released(q: &dyn Queue) {
    let acme = tenant("acme");
    let one = job("billing", Priority::Normal, None, 0);
    let two = job("billing", Priority::Normal, None, 1);
    let three = job("sales", Priority::Normal, None, 2);
    for j in [&one, &two, &three] {
        put(q, &acme, j).await;
    }
    let first = q.lease(&acme, None, 1, LEASE).await.expect("lease");
    assert_eq!(tickets(&first), [one.ticket]);
    assert_eq!(first[0].job, one);
    let rest = q.lease(&acme, None, 10, LEASE).await.expect("lease");
    assert_eq!(tickets(&rest), [two.ticket, three.ticket]);
    assert!(
        q.lease(&acme, None, 10, LEASE)
            .await
            .expect("lease")
            .is_empty()
    );

    q.unlease(&acme, one.ticket).await.expect("unlease");
    assert_eq!(
        tickets(&q.lease(&acme, None, 10, LEASE).await.expect("lease")),
        [one.ticket]
    );
    assert!(
        q.lease(&acme, None, 10, LEASE)
            .await
            .expect("lease")
            .is_empty()
    );

    assert!(!put(q, &acme, &two).await);
    assert_eq!(
        tickets(&q.lease(&acme, None, 10, LEASE).await.expect("lease")),
        [two.ticket],
        "re-enqueueing ends the lease"
    );
    // Releasing a ticket of another tenant, or one not waiting, does nothing.
    q.unlease(&tenant("globex"), three.ticket)
        .await
        .expect("unlease");
    q.unlease(&acme, Uuid::now_v7()).await.expect("unlease");
    assert!(
        q.lease(&acme, None, 10, LEASE)
            .await
            .expect("lease")
            .is_empty()
    );
}

/// A lease that runs out frees the ticket.
pub async fn leases_run_out(q: &dyn Queue) {
    let acme = tenant("acme");
    let one = job("billing", Priority::Normal, None, 0);
    put(q, &acme, &one).await;
    let short = Duration::from_millis(1500);
    assert_eq!(
        tickets(&q.lease(&acme, None, 10, short).await.expect("lease")),
        [one.ticket]
    );
    assert!(
        q.lease(&acme, None, 10, short)
            .await
            .expect("lease")
            .is_empty(),
        "still leased"
    );
    tokio::time::sleep(short + Duration::from_millis(500)).await;
    assert_eq!(
        tickets(&q.lease(&acme, None, 10, short).await.expect("lease")),
        [one.ticket],
        "the lease ran out"
    );
}

/// Callers leasing at once never get the same ticket, and between them get
/// every ticket.
pub async fn concurrent_leases_never_overlap(q: Arc<dyn Queue>) {
    let acme = tenant("acme");
    let mut all = HashSet::new();
    for i in 0..24 {
        let j = job(
            ["billing", "sales"][i % 2],
            Priority::Normal,
            None,
            i as i64,
        );
        all.insert(j.ticket);
        put(q.as_ref(), &acme, &j).await;
    }
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (q, t) = (q.clone(), acme.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                // Bounded, so a backend that leases twice fails rather than hangs.
                for _ in 0..20 {
                    let got = q.lease(&t, None, 2, LEASE).await.expect("lease");
                    if got.is_empty() {
                        break;
                    }
                    mine.extend(tickets(&got));
                }
                mine
            })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.extend(t.await.expect("task"));
    }
    let unique: HashSet<Uuid> = seen.iter().copied().collect();
    assert_eq!(seen.len(), unique.len(), "a ticket was leased twice");
    assert_eq!(unique, all, "every ticket was leased once");
}

/// Leases take only the named groups (all when none are named) of the
/// caller's tenant.
pub async fn lease_by_group_and_tenant(q: &dyn Queue) {
    let acme = tenant("acme");
    let globex = tenant("globex");
    let billing = job("billing", Priority::Normal, None, 0);
    let sales = job("sales", Priority::Normal, None, 1);
    let support = job("support", Priority::Normal, None, 2);
    let theirs = job("billing", Priority::Urgent, None, -5);
    for j in [&billing, &sales, &support] {
        put(q, &acme, j).await;
    }
    put(q, &globex, &theirs).await;

    let groups = ["sales".to_owned()];
    assert_eq!(
        tickets(
            &q.lease(&acme, Some(&groups), 10, LEASE)
                .await
                .expect("lease")
        ),
        [sales.ticket]
    );
    let groups = [
        "billing".to_owned(),
        "support".to_owned(),
        "nobody".to_owned(),
    ];
    assert_eq!(
        tickets(
            &q.lease(&acme, Some(&groups), 10, LEASE)
                .await
                .expect("lease")
        ),
        [billing.ticket, support.ticket]
    );
    assert!(
        q.lease(&acme, Some(&[]), 10, LEASE)
            .await
            .expect("lease")
            .is_empty(),
        "no groups, no tickets"
    );
    assert!(
        q.lease(&acme, None, 10, LEASE)
            .await
            .expect("lease")
            .is_empty(),
        "another tenant's tickets are not leased"
    );
    assert_eq!(
        tickets(&q.lease(&globex, None, 10, LEASE).await.expect("lease")),
        [theirs.ticket]
    );
}

async fn group_of(q: &dyn Queue, t: &TenantId, ticket: Uuid) -> Option<String> {
    q.waiting_group(t, ticket).await.expect("waiting_group")
}

/// A ticket waits in its group from its enqueue until it is removed or
/// assigned, leased or not, in its own tenant only.
pub async fn waiting_group_follows_the_queue(q: &dyn Queue) {
    let acme = tenant("acme");
    let one = job("billing", Priority::Normal, None, 0);
    let two = job("sales", Priority::Normal, None, 1);
    assert_eq!(group_of(q, &acme, one.ticket).await, None);
    put(q, &acme, &one).await;
    put(q, &acme, &two).await;
    assert_eq!(
        group_of(q, &acme, one.ticket).await.as_deref(),
        Some("billing")
    );
    assert_eq!(
        group_of(q, &acme, two.ticket).await.as_deref(),
        Some("sales")
    );
    assert_eq!(
        group_of(q, &tenant("globex"), one.ticket).await,
        None,
        "another tenant's ticket of that id is not waiting"
    );
    // Enqueued again in another group, it waits there.
    let moved = Job {
        group: "vip".into(),
        ..one.clone()
    };
    put(q, &acme, &moved).await;
    assert_eq!(group_of(q, &acme, one.ticket).await.as_deref(), Some("vip"));
    q.lease(&acme, None, 10, LEASE).await.expect("lease");
    assert_eq!(
        group_of(q, &acme, one.ticket).await.as_deref(),
        Some("vip"),
        "leased, it still waits"
    );
    q.remove_waiting(&acme, one.ticket).await.expect("remove");
    assert_eq!(group_of(q, &acme, one.ticket).await, None);
    q.assigned(
        &acme,
        two.ticket,
        Box::new(|waited| events::assigned(&acme, &two, "ann", 4, "rule", waited)),
    )
    .await
    .expect("assigned");
    assert_eq!(group_of(q, &acme, two.ticket).await, None);
}

/// Removing takes a ticket out of the queue, once; other tenants' tickets
/// stay.
pub async fn remove_waiting_takes_it_out(q: &dyn Queue) {
    let acme = tenant("acme");
    let gone = job("billing", Priority::Normal, None, 0);
    let kept = job("billing", Priority::Normal, None, 1);
    put(q, &acme, &gone).await;
    put(q, &acme, &kept).await;
    assert!(
        !q.remove_waiting(&tenant("globex"), gone.ticket)
            .await
            .expect("remove"),
        "another tenant cannot remove it"
    );
    assert!(q.remove_waiting(&acme, gone.ticket).await.expect("remove"));
    assert!(!q.remove_waiting(&acme, gone.ticket).await.expect("remove"));
    assert_eq!(q.queue_depth(&acme, "billing").await.expect("depth").0, 1);
    assert_eq!(
        tickets(&q.lease(&acme, None, 10, LEASE).await.expect("lease")),
        [kept.ticket]
    );
    // A leased ticket can be removed too.
    assert!(q.remove_waiting(&acme, kept.ticket).await.expect("remove"));
    assert_eq!(
        q.queue_depth(&acme, "billing").await.expect("depth"),
        (0, None)
    );
    // Removed, a ticket can wait again as a new one.
    assert!(put(q, &acme, &gone).await);
}

/// A new priority moves the ticket in the queue and shows in its job.
pub async fn reprioritize_reorders(q: &dyn Queue) {
    let acme = tenant("acme");
    let older = job("billing", Priority::Normal, None, 0);
    let newer = job("billing", Priority::Normal, None, 10);
    put(q, &acme, &older).await;
    put(q, &acme, &newer).await;
    q.reprioritize(&acme, newer.ticket, Priority::Urgent as i32)
        .await
        .expect("reprioritize");
    // Unknown tickets and other tenants' are no error and change nothing.
    q.reprioritize(&acme, Uuid::now_v7(), Priority::Low as i32)
        .await
        .expect("reprioritize");
    q.reprioritize(&tenant("globex"), older.ticket, Priority::Urgent as i32)
        .await
        .expect("reprioritize");
    let leased = q.lease(&acme, None, 1, LEASE).await.expect("lease");
    assert_eq!(tickets(&leased), [newer.ticket]);
    assert_eq!(
        leased[0].job,
        Job {
            priority: Priority::Urgent as i32,
            ..newer.clone()
        }
    );
    let rest = q.lease(&acme, None, 1, LEASE).await.expect("lease");
    assert_eq!(rest[0].job, older, "the other ticket is unchanged");
}

/// An assignment takes the ticket out of the queue and its event learns how
/// long it waited; a ticket that was not waiting gets `None`.
pub async fn assigned_leaves_the_queue(q: &dyn Queue) {
    let acme = tenant("acme");
    let waiting = job("billing", Priority::Normal, None, 0);
    let other = job("billing", Priority::Normal, None, 1);
    put(q, &acme, &waiting).await;
    put(q, &acme, &other).await;
    // A store may build the event more than once; the last build is the
    // one it published.
    let mut seen = Vec::new();
    for j in [&waiting, &job("billing", Priority::Normal, None, 2)] {
        let last = Mutex::new(None);
        q.assigned(
            &acme,
            j.ticket,
            Box::new(|waited| {
                *last.lock().unwrap() = Some(waited);
                events::assigned(&acme, j, "ann", 4, "rule", waited)
            }),
        )
        .await
        .expect("assigned");
        seen.push(last.into_inner().unwrap().expect("the event was built"));
    }
    let waited = seen[0].expect("it had waited");
    assert!(waited < Duration::from_secs(60), "waited {waited:?}");
    assert_eq!(seen[1], None, "the second ticket never waited");
    assert_eq!(q.queue_depth(&acme, "billing").await.expect("depth").0, 1);
    assert_eq!(
        tickets(&q.lease(&acme, None, 10, LEASE).await.expect("lease")),
        [other.ticket]
    );
}

/// Depth counts a group's waiting tickets, leased or not, of the tenant,
/// with the earliest enqueue time.
pub async fn queue_depth_counts_and_finds_the_oldest(q: &dyn Queue) {
    let acme = tenant("acme");
    assert_eq!(
        q.queue_depth(&acme, "billing").await.expect("depth"),
        (0, None)
    );
    let first = job("billing", Priority::Low, None, 0);
    put(q, &acme, &first).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = job("billing", Priority::Urgent, None, 1);
    put(q, &acme, &second).await;
    put(q, &acme, &job("sales", Priority::Normal, None, 2)).await;
    put(
        q,
        &tenant("globex"),
        &job("billing", Priority::Normal, None, 3),
    )
    .await;

    let leased = q.lease(&acme, None, 10, LEASE).await.expect("lease");
    let enqueued = |t: Uuid| {
        leased
            .iter()
            .find(|w| w.job.ticket == t)
            .expect("leased")
            .enqueued_at
    };
    assert!(enqueued(first.ticket) < enqueued(second.ticket));
    assert_eq!(
        q.queue_depth(&acme, "billing").await.expect("depth"),
        (2, Some(enqueued(first.ticket))),
        "leased tickets still wait"
    );
    assert_eq!(q.queue_depth(&acme, "sales").await.expect("depth").0, 1);
    assert_eq!(
        q.queue_depth(&acme, "support").await.expect("depth"),
        (0, None)
    );
    q.remove_waiting(&acme, first.ticket).await.expect("remove");
    assert_eq!(
        q.queue_depth(&acme, "billing").await.expect("depth"),
        (1, Some(enqueued(second.ticket)))
    );
}

/// Every (tenant, group) with a waiting ticket, each once.
pub async fn groups_waiting_lists_each_once(q: &dyn Queue) {
    assert!(q.groups_waiting().await.expect("groups").is_empty());
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let lone = job("sales", Priority::Normal, None, 1);
    put(q, &acme, &job("billing", Priority::Normal, None, 0)).await;
    put(q, &acme, &job("billing", Priority::High, None, 0)).await;
    put(q, &acme, &lone).await;
    put(q, &globex, &job("billing", Priority::Normal, None, 0)).await;
    let sorted = |mut v: Vec<(String, String)>| {
        v.sort();
        v
    };
    let pair = |t: &str, g: &str| (t.to_owned(), g.to_owned());
    assert_eq!(
        sorted(q.groups_waiting().await.expect("groups")),
        [
            pair("acme", "billing"),
            pair("acme", "sales"),
            pair("globex", "billing")
        ]
    );
    q.remove_waiting(&acme, lone.ticket).await.expect("remove");
    assert_eq!(
        sorted(q.groups_waiting().await.expect("groups")),
        [pair("acme", "billing"), pair("globex", "billing")]
    );
}

/// A lone event is accepted (backends show where it went in their own
/// tests).
pub async fn emit_accepts_an_event(q: &dyn Queue) {
    let acme = tenant("acme");
    let j = job("billing", Priority::Normal, None, 0);
    q.emit(&events::queued(&acme, &j, 1, vec!["ann".into()]))
        .await
        .expect("emit");
    assert_eq!(
        q.queue_depth(&acme, "billing").await.expect("depth"),
        (0, None),
        "an event queues nothing"
    );
}
