//! Claims folded from events alone: holders, queues, leases, takeovers,
//! trespasses and handoffs, in every order a merge can give.

use crate::core::event::{Body, Claimed, Event, ReleaseReason, Updated};
use crate::core::fold::{Standing, Takeover, fold};
use crate::core::model::StepStatus::*;
use crate::core::resume::{ResumeState, Viewer, resume_as};
use crate::core::testkit::{History, claim_event, event, status_of};

/// Long after every lease in these tests has ended.
const LATER: &str = "2026-11-25T12:00:00.000Z";
/// While the tests' leases (an hour from 10:00) still protect.
const SOON: &str = "2026-11-25T10:05:00.000Z";

fn holder(h: &History, key: &str) -> Option<String> {
    h.fold()
        .step(key)
        .unwrap()
        .holder()
        .map(|c| c.holder.clone())
}

fn at(mut e: Event, when: &str) -> Event {
    e.at = when.into();
    if let Body::Claimed(c) = &mut e.body {
        c.lease_until = crate::core::claim::lease_end(when, c.ttl_seconds).unwrap();
    }
    e
}

fn steal(mut e: Event) -> Event {
    if let Body::Claimed(c) = &mut e.body {
        c.steal = true;
    }
    e
}

fn last_id(h: &History) -> Vec<crate::core::id::EventId> {
    vec![h.events.last().unwrap().id.clone()]
}

/// A run opened with step `a`, and two claims on it made concurrently
/// (neither saw the other): laptop's for `head_ttl` seconds, first in fold
/// order, and server's for an hour, queued behind it.
fn rivals(head_ttl: u64) -> (Event, Event, Event) {
    let h = History::open(&["a"]);
    let opened = vec![h.events[0].id.clone()];
    let head = claim_event(1, 2, opened.clone(), "laptop", "a", head_ttl);
    let queued = claim_event(2, 2, opened, "server", "a", 3600);
    (h.events[0].clone(), head, queued)
}

#[test]
fn a_claim_holds_the_step_and_its_end_releases_it() {
    let mut h = History::open(&["a", "b"]);
    h.claim("codex", "a", 3600);
    let run = h.fold();
    let c = run.step("a").unwrap().holder().unwrap();
    assert_eq!(
        (c.holder.as_str(), c.token.as_str()),
        ("codex", h.events[1].id.as_str())
    );
    assert_eq!(run.live_claims(SOON).len(), 1);
    assert!(run.live_claims(LATER).is_empty(), "the lease ends");
    let mut released = History::open(&["a"]);
    released.claim("codex", "a", 3600);
    released.release("codex", "a", ReleaseReason::Released);
    assert_eq!(holder(&released, "a"), None);
    for done in [Completed, Skipped, Failed] {
        let mut h2 = History::open(&["a"]);
        h2.claim("codex", "a", 3600).step("a", done);
        assert_eq!(holder(&h2, "a"), None, "{done}");
    }
}

#[test]
fn the_holders_writes_renew_the_lease_and_a_claim_again_keeps_the_token() {
    let mut h = History::open(&["a"]);
    h.claim("agent", "a", 60);
    let token = h.events[1].id.clone();
    let lease = |h: &History| {
        h.fold()
            .step("a")
            .unwrap()
            .holder()
            .unwrap()
            .lease_until
            .clone()
    };
    let first = lease(&h);
    h.step("a", Running);
    let renewed = lease(&h);
    assert!(renewed > first, "{renewed} > {first}");
    h.claim("agent", "a", 60);
    let c = h.fold().step("a").unwrap().holder().unwrap().clone();
    assert_eq!(c.token, token, "a renewal keeps the fencing token");
}

#[test]
fn a_claim_that_saw_a_live_one_queues_and_takes_nothing() {
    let mut h = History::open(&["a"]);
    h.claim("codex", "a", 3600).claim("claude", "a", 3600);
    let run = h.fold();
    let step = run.step("a").unwrap();
    assert_eq!(step.holder().unwrap().holder, "codex");
    assert!(matches!(
        step.standing("claude", SOON),
        Standing::HeldBy { lost: Some(_), .. }
    ));
    let r = resume_as(
        &run,
        Viewer {
            actor: "claude",
            now: SOON,
        },
    );
    assert_eq!(r.resume_state, ResumeState::Claimed);
    assert!(!r.can_resume);
    assert!(
        r.message.contains("claimed by codex until"),
        "{}",
        r.message
    );
    assert!(r.message.contains("lost to it"), "{}", r.message);
    let mine = resume_as(
        &run,
        Viewer {
            actor: "codex",
            now: SOON,
        },
    );
    assert_eq!(mine.resume_state, ResumeState::Ready, "the holder goes on");
    assert!(mine.claim.unwrap().yours);
}

#[test]
fn an_expired_claim_is_taken_over_and_the_takeover_recorded() {
    let mut h = History::open(&["a"]);
    h.claim("codex", "a", 60);
    let taker = claim_event(2, 3, last_id(&h), "claude", "a", 60);
    h.events.push(at(taker, "2026-11-25T10:03:02.000Z"));
    let run = h.fold();
    let c = run.step("a").unwrap().holder().unwrap();
    assert_eq!(c.holder, "claude");
    let from = c.took_over.as_ref().unwrap();
    assert_eq!(
        (from.holder.as_str(), from.how),
        ("codex", Takeover::Expired)
    );
    assert_eq!(run.step("a").unwrap().claims.len(), 1);
}

#[test]
fn within_the_skew_margin_a_lease_still_holds() {
    let mut h = History::open(&["a"]);
    h.claim("codex", "a", 60);
    // The lease ends at 10:01:01; the margin keeps it until 10:03:01.
    let early = claim_event(2, 3, last_id(&h), "claude", "a", 60);
    h.events.push(at(early, "2026-11-25T10:03:00.999Z"));
    assert_eq!(holder(&h, "a").as_deref(), Some("codex"));
}

#[test]
fn a_steal_takes_a_live_claim_and_says_so() {
    let mut h = History::open(&["a"]);
    h.claim("codex", "a", 3600);
    h.events
        .push(steal(claim_event(2, 3, last_id(&h), "lead", "a", 60)));
    let c = h.fold().step("a").unwrap().holder().unwrap().clone();
    assert_eq!(c.holder, "lead");
    assert_eq!(c.took_over.unwrap().how, Takeover::Stolen);
}

/// Two clones claim the same step without seeing each other: every order
/// of the merged lines gives the same holder, the first in fold order.
#[test]
fn concurrent_claims_give_one_holder_in_every_order() {
    let h = History::open(&["a"]);
    let opened = vec![h.events[0].id.clone()];
    let a = claim_event(1, 2, opened.clone(), "laptop", "a", 3600);
    let b = claim_event(2, 2, opened.clone(), "server", "a", 3600);
    let c = claim_event(3, 3, opened, "cloud", "a", 3600);
    let lines = [h.events[0].clone(), a, b, c];
    let orders: [[usize; 4]; 4] = [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]];
    for order in orders {
        let run = fold(order.iter().map(|&i| lines[i].clone()).collect()).unwrap();
        let step = run.step("a").unwrap();
        let holders: Vec<&str> = step.claims.iter().map(|c| c.holder.as_str()).collect();
        assert_eq!(holders, ["laptop", "server", "cloud"], "{order:?}");
    }
}

#[test]
fn when_the_first_claim_yields_the_next_in_line_holds() {
    let (opening, mine, theirs) = rivals(3600);
    let mut lost = event(
        3,
        3,
        vec![mine.id.clone(), theirs.id.clone()],
        "laptop",
        Body::Released(crate::core::event::Released {
            step_key: "a".into(),
            holder: "laptop".into(),
            token: mine.id.clone(),
            reason: ReleaseReason::Lost,
        }),
    );
    lost.v = crate::core::event::CLAIM_VERSION;
    let run = fold(vec![opening, lost, theirs, mine]).unwrap();
    assert_eq!(run.step("a").unwrap().holder().unwrap().holder, "server");
    let label = &run.checkpoints.back().unwrap().checkpoint_label;
    assert_eq!(label, "laptop released a (lost to server)");
}

#[test]
fn a_write_by_someone_else_is_kept_and_surfaced_until_the_holder_answers() {
    let mut h = History::open(&["a"]);
    h.claim("codex", "a", 3600);
    h.push(
        "claude",
        Body::Updated(Updated {
            summary: Some("did it anyway".into()),
            ..status_of("a", Running)
        }),
    );
    let run = h.fold();
    assert_eq!(run.step("a").unwrap().status, Running, "never dropped");
    assert_eq!(run.trespasses.len(), 1);
    assert!(
        run.trespasses[0]
            .describe()
            .contains("claude wrote to step 'a'")
    );
    let r = resume_as(
        &run,
        Viewer {
            actor: "codex",
            now: SOON,
        },
    );
    assert!(
        r.message.contains("claude wrote to step 'a'"),
        "{}",
        r.message
    );
    h.push("codex", Body::Updated(status_of("a", Running)));
    assert!(h.fold().trespasses.is_empty(), "the holder saw it");
}

#[test]
fn a_write_after_the_lease_ended_ends_the_claim_instead() {
    let mut h = History::open(&["a"]);
    h.claim("codex", "a", 60);
    let e = event(
        2,
        3,
        last_id(&h),
        "claude",
        Body::Updated(status_of("a", Running)),
    );
    h.events.push(at(e, "2026-11-25T10:10:00.000Z"));
    let run = h.fold();
    assert!(run.trespasses.is_empty());
    assert_eq!(run.step("a").unwrap().holder(), None);
}

#[test]
fn a_handoff_moves_the_claim_and_one_without_an_owner_lets_it_go() {
    let mut h = History::open(&["a"]);
    h.claim("agent", "a", 3600).handoff("claude");
    let run = h.fold();
    let c = run.step("a").unwrap().holder().unwrap();
    assert_eq!(c.holder, "claude");
    assert_eq!(c.token, h.events[2].id, "a new grant, a new token");
    assert_eq!(c.took_over.as_ref().unwrap().how, Takeover::HandedOff);
    let mut h = History::open(&["a"]);
    h.claim("agent", "a", 3600);
    h.push("agent", Body::HandedOff(Default::default()));
    assert_eq!(holder(&h, "a"), None);
}

#[test]
fn a_claim_line_the_write_side_would_refuse_is_ignored() {
    let mut h = History::open(&["a"]);
    h.claim("codex", "a", 3600);
    let good = h.events.pop().unwrap();
    let mut forged_holder = good.clone();
    if let Body::Claimed(c) = &mut forged_holder.body {
        c.holder = "lead".into();
    }
    let mut long_lease = good.clone();
    if let Body::Claimed(c) = &mut long_lease.body {
        c.lease_until = "2099-01-01T00:00:00.000Z".into();
    }
    let mut old_schema = good.clone();
    old_schema.v = 2;
    let mut too_long = good;
    if let Body::Claimed(c) = &mut too_long.body {
        c.ttl_seconds = 365 * 86_400;
        c.lease_until = crate::core::claim::lease_end(&too_long.at, c.ttl_seconds).unwrap();
    }
    for bad in [forged_holder, long_lease, old_schema, too_long] {
        let mut h2 = History {
            events: h.events.clone(),
        };
        h2.events.push(bad);
        let run = h2.fold();
        assert_eq!(run.ignored.len(), 1, "{:?}", run.ignored);
        assert_eq!(run.step("a").unwrap().holder(), None);
    }
}

#[test]
fn a_claim_on_an_unknown_step_changes_nothing() {
    let mut h = History::open(&["a"]);
    h.claim("codex", "nope", 60);
    let run = h.fold();
    assert!(run.steps.iter().all(|s| s.claims.is_empty()));
    assert!(matches!(
        h.events[1].body,
        Body::Claimed(Claimed { ref step_key, .. }) if step_key == "nope"
    ));
}

/// A claim queued behind one that has since expired takes the step when
/// its holder claims again or writes to it, instead of staying behind a
/// holder nobody can see.
#[test]
fn a_queued_claim_takes_over_from_an_expired_head_by_claiming_or_writing() {
    let (opening, head, queued) = rivals(60);
    let both = vec![head.id.clone(), queued.id.clone()];
    let base = vec![opening.clone(), head, queued];
    let late = "2026-11-25T10:30:00.000Z";
    let again = at(claim_event(3, 3, both.clone(), "server", "a", 3600), late);
    let write = at(
        event(3, 3, both, "server", Body::Updated(status_of("a", Running))),
        late,
    );
    for next in [again, write] {
        let mut lines = base.clone();
        lines.push(next);
        let run = fold(lines).unwrap();
        let step = run.step("a").unwrap();
        let holders: Vec<&str> = step.claims.iter().map(|c| c.holder.as_str()).collect();
        assert_eq!(holders, ["server"]);
        assert!(run.trespasses.is_empty());
    }
}

/// A queued contender's write while the holder's lease is live is a
/// trespass, not a renewal that would let it jump the queue.
#[test]
fn a_queued_contenders_write_under_a_live_holder_is_a_trespass() {
    let (opening, head, queued) = rivals(3600);
    let both = vec![head.id.clone(), queued.id.clone()];
    let write = event(3, 3, both, "server", Body::Updated(status_of("a", Running)));
    let run = fold(vec![opening.clone(), head, queued, write]).unwrap();
    assert_eq!(run.step("a").unwrap().holder().unwrap().holder, "laptop");
    assert_eq!(run.trespasses.len(), 1);
}

/// Past an expired head, the next live contender is who holds the step
/// now: others are refused, and its own claim is a takeover.
#[test]
fn standing_passes_over_ended_leases_to_the_next_live_claim() {
    let (opening, head, queued) = rivals(60);
    let run = fold(vec![opening.clone(), head, queued]).unwrap();
    let step = run.step("a").unwrap();
    let now = "2026-11-25T10:30:00.000Z";
    assert!(
        matches!(step.standing("claude", now), Standing::HeldBy { claim, .. } if claim.holder == "server")
    );
    assert!(matches!(step.standing("server", now), Standing::Mine(_)));
    assert_eq!(run.live_claims(now)[0].1.holder, "server");
}

#[test]
fn a_claim_dated_far_ahead_holds_nothing_and_is_taken_by_the_next() {
    let mut h = History::open(&["a"]);
    let opened = vec![h.events[0].id.clone()];
    h.events.push(at(
        claim_event(1, 2, opened, "mallory", "a", 3600),
        "2100-01-01T00:00:00.000Z",
    ));
    let run = h.fold();
    let step = run.step("a").unwrap();
    assert_eq!(
        step.holder().unwrap().holder,
        "mallory",
        "it is in the history"
    );
    assert!(step.live_holder(SOON).is_none(), "but protects nothing now");
    assert!(matches!(step.standing("codex", SOON), Standing::Free));
    // A claim that saw it queues behind it (that lease has not ended),
    // and holds the step: the one ahead protects nothing yet.
    h.claim("codex", "a", 3600);
    let run = h.fold();
    let step = run.step("a").unwrap();
    assert_eq!(step.live_holder(SOON).unwrap().holder, "codex");
    assert!(matches!(step.standing("codex", SOON), Standing::Mine(_)));
    assert!(matches!(
        step.standing("claude", SOON),
        Standing::HeldBy { .. }
    ));
}

#[test]
fn a_renewal_dated_far_ahead_extends_nothing() {
    let mut h = History::open(&["a"]);
    h.claim("codex", "a", 3600);
    let renewal = claim_event(2, 3, last_id(&h), "codex", "a", 3600);
    h.events.push(at(renewal, "2100-01-01T00:00:00.000Z"));
    let run = h.fold();
    let c = run.step("a").unwrap().holder().unwrap();
    assert!(!c.protects(SOON), "{c:?}");
    assert!(
        !c.protects("2026-11-26T12:00:00.000Z"),
        "not a day later either"
    );
}

/// holder claims `a` at 10:00:01 for an hour; intruder, concurrently
/// (its clone never saw the claim), works on `a` at 10:05 after two
/// writes of its own on `b`, so its third write has the higher clock.
/// With `renew_at`, holder renews (a second claim) at that time first.
fn holder_and_concurrent_writer(renew_at: Option<&str>) -> Vec<Event> {
    let h = History::open(&["a", "b"]);
    let opened = h.events[0].id.clone();
    let mut events = h.events.clone();
    let claim = claim_event(1, 2, vec![opened.clone()], "holder", "a", 3600);
    events.push(claim.clone());
    if let Some(when) = renew_at {
        let renewal = claim_event(2, 3, vec![claim.id.clone()], "holder", "a", 3600);
        events.push(at(renewal, when));
    }
    let upd = |n, clock, parents, key: &str, when: &str| {
        let e = event(
            n,
            clock,
            parents,
            "intruder",
            Body::Updated(status_of(key, Running)),
        );
        at(e, when)
    };
    let w1 = upd(10, 2, vec![opened], "b", "2026-11-25T10:01:00.000Z");
    let w2 = upd(11, 3, vec![w1.id.clone()], "b", "2026-11-25T10:02:00.000Z");
    let w3 = upd(12, 4, vec![w2.id.clone()], "a", "2026-11-25T10:05:00.000Z");
    events.extend([w1, w2, w3]);
    events
}

/// A renewal continues the lease it extends: a write dated inside the
/// original lease, folded after the renewal, still meets a live lease. A write
/// dated inside the original lease, folded after the renewal, finds the
/// holder unprotected and ends its claim: renewing loses the step.
#[test]
fn a_renewal_does_not_unprotect_the_lease_it_extends() {
    let now = "2026-11-25T10:45:00.000Z";
    let without = fold(holder_and_concurrent_writer(None)).unwrap();
    let a = without.step("a").unwrap();
    assert_eq!(a.holder().map(|c| c.holder.as_str()), Some("holder"));
    assert_eq!(without.trespasses.len(), 1, "the write trespassed");

    let renewed = fold(holder_and_concurrent_writer(Some(
        "2026-11-25T10:40:00.000Z",
    )))
    .unwrap();
    let a = renewed.step("a").unwrap();
    assert_eq!(
        a.live_holder(now).map(|c| c.holder.as_str()),
        Some("holder"),
        "holder renewed at 10:40 and now holds nothing: {:#?} trespasses {:?}",
        a.claims,
        renewed.trespasses
    );
}

/// A claim that saw a live lease, dated before that lease began
/// (by hand, or from a clone whose clock is behind by more than ten
/// minutes), ends it as "expired" without `steal`: a lease now protects
/// nothing before its start, in the fold as well as at a reader.
#[test]
fn a_claim_dated_before_a_live_lease_does_not_take_it_as_expired() {
    let mut h = History::open(&["a"]);
    h.claim("holder", "a", 3600);
    let holder_claim = h.events.last().unwrap().id.clone();
    let back = claim_event(2, 3, vec![holder_claim], "mallory", "a", 3600);
    h.events.push(at(back, "2026-11-25T09:30:00.000Z"));
    let run = h.fold();
    let a = run.step("a").unwrap();
    let first = a.holder().unwrap();
    assert!(
        first.holder == "holder",
        "mallory took a live lease without --steal, as {:?}: {:#?}",
        first.took_over.as_ref().map(|t| t.how),
        a.claims
    );
}

/// A write whose `at` is not a time is not honoured at all: it cannot end
/// a live lease.
#[test]
fn a_write_whose_time_does_not_read_does_not_end_a_live_lease() {
    let mut h = History::open(&["a"]);
    h.claim("holder", "a", 3600);
    let parent = h.events.last().unwrap().id.clone();
    let w = event(
        2,
        3,
        vec![parent],
        "mallory",
        Body::Updated(status_of("a", Running)),
    );
    h.events.push(at(w, "whenever"));
    let run = h.fold();
    assert_eq!(run.ignored.len(), 1, "{:?}", run.ignored);
    let a = run.step("a").unwrap();
    assert_eq!(
        a.holder().map(|c| c.holder.as_str()),
        Some("holder"),
        "{:#?} trespasses {:?}",
        a.claims,
        run.trespasses
    );
}

#[test]
fn a_claim_concurrent_with_the_steps_completion_holds_nothing_in_either_order() {
    let h = History::open(&["a", "b"]);
    let opened = vec![h.events[0].id.clone()];
    // The claim sorts after the completion, then before it.
    for (done_clock, claim_clock) in [(2, 3), (3, 2)] {
        let done = event(
            1,
            done_clock,
            opened.clone(),
            "laptop",
            Body::Updated(status_of("a", Completed)),
        );
        let claim = claim_event(2, claim_clock, opened.clone(), "server", "a", 3600);
        let events = vec![h.events[0].clone(), done, claim];
        let run = fold(events).unwrap();
        let a = run.step("a").unwrap();
        assert_eq!(a.status, Completed);
        assert!(a.claims.is_empty(), "{:?}", a.claims);
    }
}

#[test]
fn a_claim_ref_lapses_only_when_every_claim_on_its_step_has_ended() {
    use crate::core::testkit::History;
    let mut h = History::open(&["a", "b"]);
    h.claim("ann", "a", 60);
    let at = h.events.last().unwrap().at.clone();
    let later = |secs: i64| {
        (chrono::DateTime::parse_from_rfc3339(&at).unwrap() + chrono::Duration::seconds(secs))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    assert!(!crate::core::fold::lapsed(&h.events, "a", &at), "live");
    assert!(
        !crate::core::fold::lapsed(&h.events, "a", &later(60 + 60)),
        "within the skew margin"
    );
    assert!(crate::core::fold::lapsed(
        &h.events,
        "a",
        &later(60 + crate::core::claim::SKEW_MARGIN_SECONDS)
    ));
    assert!(
        !crate::core::fold::lapsed(&h.events, "b", &later(86_400)),
        "no claim on b proves nothing"
    );
    // A forged lease_until far ahead is not believed: at + ttl is.
    if let crate::core::event::Body::Claimed(c) = &mut h.events.last_mut().unwrap().body {
        c.lease_until = "2100-01-01T00:00:00.000Z".into();
    }
    assert!(crate::core::fold::lapsed(
        &h.events,
        "a",
        &later(60 + crate::core::claim::SKEW_MARGIN_SECONDS)
    ));
}

#[test]
fn a_claim_queued_behind_a_live_rival_holds_nothing_until_the_rival_lets_go() {
    let (opening, head, queued) = rivals(3600);
    let (head_token, queued_token) = (head.id.clone(), queued.id.clone());
    let run = fold(vec![opening, queued, head]).unwrap();
    let step = run.step("a").unwrap();
    assert_eq!(step.claims.len(), 2, "both are listed");
    assert!(step.held_by(head_token.as_str(), SOON));
    assert!(
        !step.held_by(queued_token.as_str(), SOON),
        "listed behind a live holder is not holding"
    );
    assert!(
        step.held_by(queued_token.as_str(), LATER),
        "the holder's lease ended: the next in line holds"
    );
    assert!(!step.held_by("01NOSUCHTOKEN0000000000000", SOON));
}
