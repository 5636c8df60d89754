//! Haiway docs, "With State Management": a health monitor reads scoped state, makes an updated
//! copy, and triggers recovery with another event; `ctx::updating` makes the copy visible.
//!
//! `cargo run --example state`

use tidings::{Scope, ctx};

#[derive(Clone, Debug)]
struct SystemStatus {
    healthy: bool,
    last_check: u64,
}

impl SystemStatus {
    fn updated(&self, healthy: bool, last_check: u64) -> Self {
        SystemStatus {
            healthy,
            last_check,
        }
    }
}

#[derive(Clone, Debug)]
struct HealthCheckFailed {
    reason: String,
}

#[derive(Clone, Debug)]
struct SystemUnhealthy {
    reason: String,
}

async fn health_monitor(mut failures: tidings::ScopedSubscription<HealthCheckFailed>) {
    while let Some(event) = failures.recv().await {
        // Update system state
        let current = ctx::try_state::<SystemStatus>().unwrap();
        let updated = current.updated(false, current.last_check + 1);
        println!("monitor: status was {current:?}, now {updated:?}");
        // Make the updated copy visible to the code that handles the failure.
        ctx::updating(updated, async {
            let seen = ctx::try_state::<SystemStatus>().unwrap();
            println!("recovery sees healthy = {}", seen.healthy);
            // Trigger recovery via another event
            ctx::send(SystemUnhealthy {
                reason: event.reason.clone(),
            })
            .unwrap();
        })
        .await
        .unwrap();
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    Scope::new("app")
        .with_state(SystemStatus {
            healthy: true,
            last_check: 0,
        })
        .run(async {
            let mut unhealthy = ctx::subscribe::<SystemUnhealthy>().unwrap();
            ctx::spawn(health_monitor(ctx::subscribe().unwrap())).unwrap();
            ctx::send(HealthCheckFailed {
                reason: "db timeout".into(),
            })
            .unwrap();
            let alarm = unhealthy.recv().await.unwrap();
            println!("app: system unhealthy: {}", alarm.reason);
            println!(
                "app: its own status is unchanged: healthy = {}",
                ctx::try_state::<SystemStatus>().unwrap().healthy
            );
            // A nested scope can override the state for everything inside it.
            Scope::new("maintenance")
                .with_state(SystemStatus {
                    healthy: false,
                    last_check: 9,
                })
                .run(async {
                    println!(
                        "maintenance sees {:?}",
                        ctx::try_state::<SystemStatus>().unwrap()
                    );
                })
                .await
                .unwrap();
        })
        .await
        .unwrap();
}
