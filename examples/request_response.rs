//! Haiway docs, "Request-Response Pattern": subscribe to responses before sending the request.
//!
//! `cargo run --example request_response`

use tidings::{Scope, ctx};

#[derive(Clone, Debug)]
struct DataRequest {
    request_id: u64,
    query: String,
}

#[derive(Clone, Debug)]
struct DataResponse {
    request_id: u64,
    result: String,
}

async fn execute_query(query: &str) -> String {
    tokio::task::yield_now().await;
    query.to_uppercase()
}

async fn data_service(mut requests: tidings::ScopedSubscription<DataRequest>) {
    while let Some(request) = requests.recv().await {
        let result = execute_query(&request.query).await;
        ctx::send(DataResponse {
            request_id: request.request_id,
            result,
        })
        .unwrap();
    }
}

async fn make_request(request_id: u64, query: &str) -> Option<String> {
    // Subscribe before sending to avoid race condition
    let mut response_sub = ctx::subscribe::<DataResponse>().unwrap();
    // Send request
    ctx::send(DataRequest {
        request_id,
        query: query.into(),
    })
    .unwrap();
    // Wait for matching response
    while let Some(response) = response_sub.recv().await {
        if response.request_id == request_id {
            return Some(response.result);
        }
    }
    None
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    Scope::new("app")
        .run(async {
            ctx::spawn(data_service(ctx::subscribe().unwrap())).unwrap();
            let (a, b) = tokio::join!(make_request(1, "select a"), make_request(2, "select b"));
            println!("request 1 -> {a:?}");
            println!("request 2 -> {b:?}");
        })
        .await
        .unwrap();
}
