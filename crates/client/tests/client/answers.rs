//! Item 8 of issue #17: an answer is read only up to a size limit.

use wirecash_client::{Client, Error};

use crate::support::{Stub, tokens};

#[tokio::test]
async fn an_oversized_answer_is_refused_not_buffered() {
    let huge = "A".repeat(2 * 1024 * 1024);
    let stub = Stub::serve(move |_| tokens(&huge)).await;
    let client = Client::builder().sandbox(&stub.base).build().unwrap();
    let e = client.authenticate("alice", "pw").await.unwrap_err();
    assert!(matches!(e, Error::InvalidResponse(_)), "{e:?}");
    assert!(e.to_string().contains("larger than"), "{e}");
}
