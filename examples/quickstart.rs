//! A small, realistic tour: several subscribers of one event type, a request-response round
//! trip, a clean shutdown, and a last line with throughput.
//!
//! Run with `cargo run --release --example quickstart`.

use std::sync::Arc;
use std::time::Instant;

use tidings::Bus;

#[derive(Clone, Debug)]
struct UserLoggedIn {
    user_id: String,
    ip_address: String,
}

#[derive(Clone, Debug)]
struct OrderCreated {
    order_id: u64,
    total_amount: f64,
}

#[derive(Clone, Debug)]
struct DataRequest {
    request_id: u64,
    query: String,
}

#[derive(Clone, Debug)]
struct DataResponse {
    request_id: u64,
    result: Arc<Vec<String>>,
}

/// Answers `DataRequest`s until the bus closes.
async fn data_service(bus: Bus) {
    let mut requests = bus.subscribe::<DataRequest>();
    while let Some(request) = requests.recv().await {
        let result = Arc::new(vec![format!("rows for {:?}", request.query)]);
        let _ = bus.send(DataResponse {
            request_id: request.request_id,
            result,
        });
    }
}

/// Subscribe before sending, so the response cannot be missed.
async fn make_request(bus: &Bus, request_id: u64, query: &str) -> Arc<Vec<String>> {
    let mut responses = bus.subscribe::<DataResponse>();
    bus.send(DataRequest {
        request_id,
        query: query.into(),
    })
    .expect("the data service is subscribed");
    while let Some(response) = responses.recv().await {
        if response.request_id == request_id {
            return response.result;
        }
    }
    panic!("bus closed before the response arrived");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bus = Bus::new();

    // Several subscribers of one type, each getting every login.
    let mut security = bus.subscribe::<UserLoggedIn>();
    let security = tokio::spawn(async move {
        let mut alerts = 0;
        while let Some(login) = security.recv().await {
            if login.ip_address.starts_with("10.") {
                println!("security: internal login by {}", login.user_id);
                alerts += 1;
            }
        }
        alerts
    });
    let mut counter = bus.subscribe::<UserLoggedIn>();
    let counter = tokio::spawn(async move {
        let mut logins = 0;
        while counter.recv().await.is_some() {
            logins += 1;
        }
        logins
    });
    let mut orders = bus.subscribe::<OrderCreated>();
    let orders = tokio::spawn(async move {
        let mut revenue = 0.0;
        while let Some(order) = orders.recv().await {
            println!("orders: #{} for {:.2}", order.order_id, order.total_amount);
            revenue += order.total_amount;
        }
        revenue
    });
    // The responder subscribes inside its task: wait until it is registered before asking.
    let service = tokio::spawn(data_service(bus.clone()));
    while bus.subscriber_count::<DataRequest>() == 0 {
        tokio::task::yield_now().await;
    }

    for (user, ip) in [
        ("ada", "10.0.0.7"),
        ("grace", "192.0.2.1"),
        ("alan", "10.0.0.9"),
    ] {
        bus.send(UserLoggedIn {
            user_id: user.into(),
            ip_address: ip.into(),
        })
        .expect("two subscribers");
    }
    bus.send(OrderCreated {
        order_id: 1,
        total_amount: 12.5,
    })
    .expect("one subscriber");

    let started = Instant::now();
    let rows = make_request(&bus, 42, "select * from users").await;
    println!("request-response: {:?} in {:?}", rows, started.elapsed());

    // Throughput: one sender, four subscriptions on their own threads.
    const N: u64 = 2_000_000;
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let mut sub = bus.subscribe::<u64>();
            std::thread::spawn(move || {
                let mut expected = 0;
                while let Some(i) = sub.recv_blocking() {
                    assert_eq!(i, expected, "in order, nothing lost");
                    expected += 1;
                    if expected == N {
                        break;
                    }
                }
                expected
            })
        })
        .collect();
    let started = Instant::now();
    for i in 0..N {
        bus.send(i).expect("four subscribers");
    }
    let delivered: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let elapsed = started.elapsed();

    // Closing ends every subscription after it has drained.
    bus.close();
    println!("security alerts: {}", security.await.unwrap());
    println!("logins counted: {}", counter.await.unwrap());
    println!("revenue: {:.2}", orders.await.unwrap());
    service.await.unwrap();
    println!(
        "throughput: {:.1} M events/s delivered ({} events to 4 subscriptions in {:?})",
        delivered as f64 / elapsed.as_secs_f64() / 1e6,
        delivered,
        elapsed
    );
}
