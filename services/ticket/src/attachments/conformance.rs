//! The behaviour every [`ObjectStore`] backend must show. A backend's test
//! calls [`run`] on a store of its own; `prefix` keeps runs that share a
//! store (or a bucket) apart.

use super::{MAX_FILENAME_BYTES, ObjectError, ObjectStore, safe_filename};

/// Every check below, in turn.
pub async fn run(store: &dyn ObjectStore, prefix: &str) {
    bytes_round_trip(store, prefix).await;
    a_put_replaces(store, prefix).await;
    missing_keys_are_not_found(store, prefix).await;
    odd_characters_in_keys_round_trip(store, prefix).await;
    unsafe_keys_are_refused(store).await;
    large_objects_round_trip(store, prefix).await;
    deletes_remove_and_repeat(store, prefix).await;
}

/// A deleted key is `NotFound`; deleting it again, or a key never written,
/// succeeds (erasure and retention retry deletes).
pub async fn deletes_remove_and_repeat(store: &dyn ObjectStore, prefix: &str) {
    let key = format!("{prefix}/t9/passport.pdf");
    let kept = format!("{prefix}/t9/kept.pdf");
    store.put(&key, b"%PDF").await.expect("put");
    store.put(&kept, b"%PDF kept").await.expect("put");
    store.delete(&key).await.expect("delete");
    assert!(
        matches!(store.get(&key).await, Err(ObjectError::NotFound(_))),
        "{key} still there"
    );
    store.delete(&key).await.expect("delete again");
    store
        .delete(&format!("{prefix}/never/written.pdf"))
        .await
        .expect("delete a key never written");
    assert_eq!(
        store.get(&kept).await.expect("other keys stay"),
        b"%PDF kept"
    );
    assert!(matches!(
        store.delete("../escape").await,
        Err(ObjectError::BadKey(_))
    ));
}

/// Every byte value, and no bytes at all, read back exactly as written.
pub async fn bytes_round_trip(store: &dyn ObjectStore, prefix: &str) {
    let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let key = format!("{prefix}/t1/all-bytes.bin");
    store.put(&key, &all).await.expect("put every byte value");
    assert_eq!(store.get(&key).await.expect("get"), all, "{key}");

    let empty = format!("{prefix}/t1/empty.txt");
    store.put(&empty, b"").await.expect("put an empty object");
    assert_eq!(store.get(&empty).await.expect("get"), b"", "{empty}");
}

/// Writing a key again replaces its bytes (a retried delivery).
pub async fn a_put_replaces(store: &dyn ObjectStore, prefix: &str) {
    let key = format!("{prefix}/t2/invoice.pdf");
    store.put(&key, b"%PDF-1.4 first").await.expect("put");
    store.put(&key, b"%PDF-1.7").await.expect("put again");
    assert_eq!(store.get(&key).await.expect("get"), b"%PDF-1.7");
}

/// A key never written is `NotFound`, not some other failure.
pub async fn missing_keys_are_not_found(store: &dyn ObjectStore, prefix: &str) {
    for key in [
        format!("{prefix}/never/written.pdf"),
        format!("{prefix}-other-prefix/x"),
    ] {
        match store.get(&key).await {
            Err(ObjectError::NotFound(k)) => assert_eq!(k, key),
            other => panic!("{key}: expected NotFound, got {other:?}"),
        }
    }
}

/// Keys with characters that need escaping in URLs or shells, and non-ASCII
/// ones, round-trip and stay distinct.
pub async fn odd_characters_in_keys_round_trip(store: &dyn ObjectStore, prefix: &str) {
    let names = [
        "Invoice 11 (final).pdf",
        "a+b=c&d?e#f.txt",
        "100% sure;@$!~'[x]{y}^`|.txt",
        "Rechnung-Müller_請求書.pdf",
        "emoji-📎.png",
        "..dots..",
        "-leading-dash",
        "%2F not a slash",
    ];
    for (i, name) in names.iter().enumerate() {
        let key = format!("{prefix}/odd {i}/{name}");
        store
            .put(&key, name.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("put {key:?}: {e}"));
    }
    for (i, name) in names.iter().enumerate() {
        let key = format!("{prefix}/odd {i}/{name}");
        let got = store
            .get(&key)
            .await
            .unwrap_or_else(|e| panic!("get {key:?}: {e}"));
        assert_eq!(got, name.as_bytes(), "{key:?}");
    }
    // The longest file name the desk keeps, in multi-byte characters.
    let longest = safe_filename(&"é".repeat(MAX_FILENAME_BYTES));
    assert_eq!(longest.len(), MAX_FILENAME_BYTES);
    let key = format!("{prefix}/long/{longest}");
    store
        .put(&key, b"long")
        .await
        .expect("put a long file name");
    assert_eq!(store.get(&key).await.expect("get"), b"long");
}

/// Keys that could leave the store's root are refused before any I/O, the
/// same way on every backend.
pub async fn unsafe_keys_are_refused(store: &dyn ObjectStore) {
    for bad in [
        "../x",
        "acme/../../x",
        "/etc/passwd",
        "a//b",
        "",
        "a/./b",
        "a\\b",
        "a\0b",
    ] {
        assert!(
            matches!(store.put(bad, b"x").await, Err(ObjectError::BadKey(_))),
            "put {bad:?} accepted"
        );
        assert!(
            matches!(store.get(bad).await, Err(ObjectError::BadKey(_))),
            "get {bad:?} accepted"
        );
    }
}

/// An attachment near the size mail allows arrives whole.
pub async fn large_objects_round_trip(store: &dyn ObjectStore, prefix: &str) {
    // Not a repeating pattern, so a dropped or reordered chunk shows.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let big: Vec<u8> = (0..9 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let key = format!("{prefix}/big/scan.tiff");
    store.put(&key, &big).await.expect("put 9 MiB");
    let got = store.get(&key).await.expect("get 9 MiB");
    assert_eq!(got.len(), big.len());
    assert!(got == big, "9 MiB object came back different");
}
