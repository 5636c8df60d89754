//! Haiway docs, "Background Event Processing": processors spawned in the scope, the main
//! logic runs, then the processors are cancelled.
//!
//! `cargo run --example background_processors`

use tidings::{Scope, ctx};

#[derive(Clone, Debug)]
struct UserLoggedIn {
    user_id: String,
    ip_address: String,
}

#[derive(Clone, Debug)]
struct OrderCreated {
    order_id: String,
    total_amount: f64,
}

async fn monitor_logins(mut logins: tidings::ScopedSubscription<UserLoggedIn>) {
    while let Some(event) = logins.recv().await {
        println!("User {} logged in from {}", event.user_id, event.ip_address);
    }
}

async fn process_orders(mut orders: tidings::ScopedSubscription<OrderCreated>) {
    while let Some(event) = orders.recv().await {
        println!(
            "Processing order {} ({:.2})",
            event.order_id, event.total_amount
        );
    }
}

async fn run_application() {
    ctx::send(UserLoggedIn {
        user_id: "ada".into(),
        ip_address: "10.0.0.7".into(),
    })
    .unwrap();
    ctx::send(OrderCreated {
        order_id: "o-1".into(),
        total_amount: 99.5,
    })
    .unwrap();
    // Give the processors a turn before cancelling them.
    tokio::task::yield_now().await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    Scope::new("app")
        .run(async {
            // Subscribe before spawning (as Haiway's tests do), so nothing sent meanwhile is missed.
            let logins = ctx::subscribe::<UserLoggedIn>().unwrap();
            let orders = ctx::subscribe::<OrderCreated>().unwrap();
            // Start event processors in background
            let login_monitor = ctx::spawn(monitor_logins(logins)).unwrap();
            let order_processor = ctx::spawn(process_orders(orders)).unwrap();
            // Run main application logic
            run_application().await;
            // Cancel processors when done
            login_monitor.cancel();
            order_processor.cancel();
            println!(
                "processors cancelled: {}, {}",
                login_monitor.await.unwrap_err().is_cancelled(),
                order_processor.await.unwrap_err().is_cancelled()
            );
        })
        .await
        .unwrap();
}
