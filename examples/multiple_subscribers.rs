//! Haiway docs, "Multiple Subscribers": two processors receive every login independently.
//!
//! `cargo run --example multiple_subscribers`

use std::sync::atomic::{AtomicUsize, Ordering};

use tidings::{Scope, ctx};

#[derive(Clone, Debug)]
struct UserLoggedIn {
    user_id: String,
    ip_address: String,
}

static LOGIN_COUNT: AtomicUsize = AtomicUsize::new(0);

fn is_suspicious_ip(ip: &str) -> bool {
    ip.starts_with("203.0.113.")
}

async fn alert_security_team(mut logins: tidings::ScopedSubscription<UserLoggedIn>) {
    while let Some(event) = logins.recv().await {
        if is_suspicious_ip(&event.ip_address) {
            println!(
                "security alert: {} from {}",
                event.user_id, event.ip_address
            );
        }
    }
}

async fn update_user_stats(mut logins: tidings::ScopedSubscription<UserLoggedIn>) {
    while let Some(event) = logins.recv().await {
        let n = LOGIN_COUNT.fetch_add(1, Ordering::Relaxed) + 1;
        println!("stats: {} logged in (login #{n})", event.user_id);
    }
}

async fn run_application() {
    for (user, ip) in [
        ("ada", "10.0.0.7"),
        ("mallory", "203.0.113.9"),
        ("bob", "10.0.0.8"),
    ] {
        ctx::send(UserLoggedIn {
            user_id: user.into(),
            ip_address: ip.into(),
        })
        .unwrap();
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    Scope::new("app")
        .run(async {
            // Both subscribers receive all events independently. Their subscriptions end when
            // the scope begins to close, after the events already sent, so `run` returns.
            ctx::spawn(alert_security_team(ctx::subscribe().unwrap())).unwrap();
            ctx::spawn(update_user_stats(ctx::subscribe().unwrap())).unwrap();
            run_application().await;
        })
        .await
        .unwrap();
    println!(
        "total logins counted: {}",
        LOGIN_COUNT.load(Ordering::Relaxed)
    );
}
