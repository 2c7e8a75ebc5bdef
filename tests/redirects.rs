//! Redirects against real servers on 127.0.0.1: not followed unless `follow_redirects` allows
//! them, a loop and too long a chain fail with reasons of their own, and every way a request
//! can go (a one-shot direct connection, reqwest's pool, a virtual user's own connection) gives
//! the same outcome. What was followed is checked in the servers' own logs.

mod probe_support;

use probe_support::servers::{self, Seen, Server, reply};
use probe_support::{global, message, reason, scenario, target};
use synthex::outcome::{FailureReason, Outcome};
use synthex::probe::Probe;
use synthex::scenario::{Call, StatusMatch};
use synthex::template::Iteration;
use tokio::time::Instant;

/// A server of redirect chains: `/start` → `/two` → `/end` (200), `/loop-a` ⇄ `/loop-b`,
/// `/self` → itself, and `/away` → `elsewhere` (another origin).
async fn chains(elsewhere: String) -> Server {
    servers::http(move |seen: &Seen| {
        let to = |location: &str| reply(302, &[("location", location)], "moved");
        match seen.path.as_str() {
            "/start" => to("/two"),
            "/two" => to("/end"),
            "/end" => reply(200, &[], "done"),
            "/loop-a" => to("/loop-b"),
            "/loop-b" => to("/loop-a"),
            "/self" => to("/self"),
            "/away" => reply(301, &[("location", &elsewhere)], ""),
            _ => reply(404, &[], ""),
        }
    })
    .await
}

/// The paths `server` was asked for, in order.
fn asked(server: &Server) -> Vec<String> {
    server.log.requests().into_iter().map(|s| s.path).collect()
}

/// Runs `scenario` with `follow` redirects allowed on a fresh server, once per way a request
/// can go, asserts that they agree, and returns the outcome and the paths the server saw on
/// the first way.
async fn follow(follow: u32, scenario: &Call) -> (Outcome, Vec<String>) {
    let other = servers::http(|_| reply(200, &[], "elsewhere")).await;
    let mut results = Vec::new();
    for keep_alive in [false, true] {
        let server = chains(format!("http://{}/landed", other.addr)).await;
        let mut t = target(&format!("http://{}", server.addr));
        t.follow_redirects = follow;
        t.keep_alive = keep_alive;
        let probe = Probe::new(&t, &global()).unwrap();
        results.push((
            probe
                .run(scenario, Instant::now(), &Iteration::default())
                .await,
            asked(&server),
        ));
        if keep_alive {
            // A virtual user's own connection exists only when redirects are not followed.
            match probe.connection() {
                Some(mut own) => {
                    assert_eq!(follow, 0);
                    let before = asked(&server).len();
                    let outcome = own
                        .run(scenario, Instant::now(), &Iteration::default())
                        .await;
                    results.push((outcome, asked(&server)[before..].to_vec()));
                }
                None => assert!(follow > 0, "no direct connection for a plain-HTTP target"),
            }
        }
    }
    let (first, paths) = &results[0];
    for (outcome, seen) in &results[1..] {
        assert_eq!(outcome.failure, first.failure);
        assert_eq!(outcome.status, first.status);
        assert_eq!(seen, paths);
    }
    results.swap_remove(0)
}

#[tokio::test]
async fn redirects_are_not_followed_by_default() {
    let (outcome, paths) = follow(0, &scenario("/start")).await;
    assert_eq!(outcome.status, Some(302));
    assert_eq!(reason(&outcome), Some(FailureReason::HttpStatus));
    assert_eq!(paths, ["/start"]);
    // The redirect is the answer, and may be the expected one.
    let mut expect_redirect = scenario("/start");
    expect_redirect.expect.status = vec![StatusMatch::Code(302)];
    let (outcome, _) = follow(0, &expect_redirect).await;
    assert!(outcome.is_success(), "{}", message(&outcome));
}

#[tokio::test]
async fn up_to_follow_redirects_are_followed() {
    let (outcome, paths) = follow(2, &scenario("/start")).await;
    assert!(outcome.is_success(), "{}", message(&outcome));
    assert_eq!((outcome.status, outcome.body_bytes), (Some(200), 4));
    assert_eq!(paths, ["/start", "/two", "/end"]);
    // More allowed than needed changes nothing.
    let (outcome, paths) = follow(20, &scenario("/start")).await;
    assert!(outcome.is_success());
    assert_eq!(paths.len(), 3);
}

#[tokio::test]
async fn one_redirect_too_many_fails_without_being_followed() {
    let (outcome, paths) = follow(1, &scenario("/start")).await;
    assert_eq!(reason(&outcome), Some(FailureReason::TooManyRedirects));
    assert_eq!(
        message(&outcome),
        "too many redirects: follow_redirects allows 1"
    );
    assert_eq!(outcome.status, None);
    assert_eq!(paths, ["/start", "/two"]);
}

#[tokio::test]
async fn a_loop_fails_as_a_loop_before_the_url_is_requested_again() {
    let (outcome, paths) = follow(5, &scenario("/loop-a")).await;
    assert_eq!(reason(&outcome), Some(FailureReason::RedirectLoop));
    assert_eq!(
        message(&outcome),
        "redirect loop: the Location was already visited"
    );
    assert_eq!(paths, ["/loop-a", "/loop-b"]);
    // A loop is named as such even at the limit.
    let (outcome, paths) = follow(1, &scenario("/self")).await;
    assert_eq!(reason(&outcome), Some(FailureReason::RedirectLoop));
    assert_eq!(paths, ["/self"]);
}

#[tokio::test]
async fn a_redirect_to_another_origin_does_not_carry_the_credentials() {
    let other = servers::http(|_| reply(200, &[], "elsewhere")).await;
    let server = chains(format!("http://{}/landed", other.addr)).await;
    let mut t = target(&format!("http://{}", server.addr));
    t.follow_redirects = 1;
    t.headers
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    let probe = Probe::new(&t, &global()).unwrap();
    let outcome = probe
        .run(&scenario("/away"), Instant::now(), &Iteration::default())
        .await;
    assert!(outcome.is_success(), "{}", message(&outcome));
    let first = &server.log.requests()[0];
    assert_eq!(first.headers["authorization"], "Bearer s3cret");
    let landed = other.log.requests();
    assert_eq!(landed.len(), 1);
    assert_eq!(landed[0].path, "/landed");
    assert!(landed[0].headers.get("authorization").is_none());
}
