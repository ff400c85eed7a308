//! The S3 object store against moto's server (the local stack): paginated listing, conditional
//! writes, and a day committed to the Delta table through it.
//! Needs `make stack-up` (or `make test`, which starts it); without it the binary says so in one line.

#[path = "../../../tests/support/local_stack.rs"]
mod local_stack;

use driftless::compact::{Compaction, Days, Outcome};
use driftless::config::CompactConfig;
use driftless::lake::s3::S3Store;
use driftless::lake::store::{ObjectStore, Precondition};
use driftless::lake::{Day, LakeError as Error, EVENTS};

use local_stack::BUCKET;

async fn moto() -> (aws_config::SdkConfig, aws_sdk_s3::Client) {
    let aws = local_stack::moto_config().await;
    let s3 = aws_sdk_s3::Client::new(&aws);
    local_stack::require_bucket(&s3).await;
    (aws, s3)
}

#[tokio::test]
async fn conditional_writes_let_exactly_one_commit_through() {
    let (aws, _) = moto().await;
    let store = S3Store::new(&aws, BUCKET);
    let key = format!("lake/test/{}/_manifest.json", std::process::id());
    store
        .put_small(&key, b"one".to_vec(), Some(Precondition::Absent))
        .await
        .unwrap();
    let err = store
        .put_small(&key, b"two".to_vec(), Some(Precondition::Absent))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PreconditionFailed { .. }), "{err}");
    let (body, etag) = store.get_small(&key).await.unwrap().unwrap();
    assert_eq!(body, b"one");
    store
        .put_small(
            &key,
            b"three".to_vec(),
            Some(Precondition::Matches(etag.clone())),
        )
        .await
        .unwrap();
    let err = store
        .put_small(&key, b"four".to_vec(), Some(Precondition::Matches(etag)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::PreconditionFailed { .. }),
        "stale etag: {err}"
    );
    assert_eq!(store.get_small(&key).await.unwrap().unwrap().0, b"three");
    store.delete(std::slice::from_ref(&key)).await.unwrap();
    assert!(store.get_small(&key).await.unwrap().is_none());
}

#[tokio::test]
async fn a_day_is_committed_to_the_delta_table_on_s3_by_conditional_put() {
    let (aws, s3) = moto().await;
    // A bucket of its own: the table under lake/ is shared by every run that uses a bucket.
    let bucket = format!("driftless-rust-{}", std::process::id());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    // Pages of two keys: seven objects need four pages.
    let store = S3Store::new(&aws, &bucket).with_page_size(2);
    let day = Day::parse("2026-11-20").unwrap();
    let prefix = day.raw_prefix(&EVENTS);
    let mut expected = 0;
    for obj in 0..7 {
        let mut body = String::new();
        for i in 0..10 {
            let id = format!("{day}-{obj}-{i}");
            body.push_str(&format!(
                r#"{{"event_id":"{id}","event_type":"page_viewed","schema_version":"1-0-0","timestamp":"{day}T10:00:00.000Z","received_at":"{day}T10:00:01.000Z","anonymous_id":"a{obj}","session_id":"s","seq":{i},"context":null,"properties":{{}}}}"#
            ));
            body.push('\n');
            expected += 1;
        }
        s3.put_object()
            .bucket(&bucket)
            .key(format!("{prefix}1{obj}/obj-{obj}"))
            .body(body.into_bytes().into())
            .send()
            .await
            .unwrap();
    }
    assert_eq!(store.list(&prefix).await.unwrap().len(), 7);
    let scratch = std::env::temp_dir().join(format!("driftless-moto-{}", std::process::id()));
    let cfg = CompactConfig {
        scratch_dir: scratch,
        ..CompactConfig::default()
    };
    let days = Days::Only(vec![day]);
    let report = Compaction::new(&store, &cfg, 0)
        .append_days(&days)
        .await
        .unwrap();
    let r = &report.appends[0];
    assert_eq!(r.outcome, Outcome::Committed, "{r:?}");
    assert_eq!((r.run.objects_in, r.run.rows_out), (7, expected));
    assert!(
        store.list(&prefix).await.unwrap().is_empty(),
        "raw inputs deleted"
    );
    let keys: Vec<String> = store
        .list("lake/events/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    for version in [0, 1] {
        let log = format!("lake/events/_delta_log/{version:020}.json");
        assert!(keys.contains(&log), "{log} in {keys:?}");
    }
    assert_eq!(
        keys.iter()
            .filter(|k| k.starts_with(&format!("lake/events/dt={day}/")) && k.ends_with(".parquet"))
            .count(),
        1
    );
    let again = Compaction::new(&store, &cfg, 0)
        .append_days(&days)
        .await
        .unwrap();
    assert_eq!(again.appends[0].outcome, Outcome::NothingToDo);
}

#[tokio::test]
async fn erasure_on_a_versioned_bucket_leaves_no_object_version_that_holds_the_person() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    use driftless::erasure::{Erasure, ErasureAsk};

    let (aws, s3) = moto().await;
    let bucket = format!("driftless-erase-{}", std::process::id());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let store = S3Store::new(&aws, &bucket).with_page_size(3);
    let day = Day::parse("2026-11-20").unwrap();
    let line = |id: &str, anon: &str| {
        format!(
            r#"{{"event_id":"{id}","event_type":"page_viewed","schema_version":"1-0-0","timestamp":"{day}T10:00:00.000Z","received_at":"{day}T10:00:01.000Z","anonymous_id":"{anon}","session_id":"s","seq":1,"context":null,"properties":{{}}}}"#
        )
    };
    let body: String = (0..20)
        .map(|i| line(&format!("keep-{i}"), "someone") + "\n")
        .chain((0..3).map(|i| line(&format!("gone-{i}"), "erase-me") + "\n"))
        .collect();
    s3.put_object()
        .bucket(&bucket)
        .key(format!("{}10/obj", day.raw_prefix(&EVENTS)))
        .body(body.into_bytes().into())
        .send()
        .await
        .unwrap();
    let scratch = std::env::temp_dir().join(format!("driftless-erase-moto-{}", std::process::id()));
    let cfg = CompactConfig {
        scratch_dir: scratch,
        ..CompactConfig::default()
    };
    let now = driftless::timestamp::parse_rfc3339("2026-11-21T06:00:00Z").unwrap();
    Compaction::new(&store, &cfg, now)
        .append_days(&Days::Only(vec![day]))
        .await
        .unwrap();
    let report = Erasure::new(&store, &cfg, now)
        .erase_now(ErasureAsk {
            user_ids: Vec::new(),
            anonymous_ids: vec!["erase-me".into()],
            requested_by: "moto test".into(),
        })
        .await
        .unwrap();
    let e = report.erasure.unwrap();
    assert!(e.verified, "{e:?}");
    assert_eq!(e.rows_removed(), 3);
    assert!(
        e.tables[0].versions_purged + e.raw.versions_purged > 0,
        "the deleted file and raw object had versions: {e:?}"
    );
    // No old version of a data file, index or raw object is left to read the person from.
    let versions = s3
        .list_object_versions()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let erasable =
        |key: &str| key.starts_with("raw/") || key.ends_with(".parquet") || key.ends_with(".idx");
    for m in versions.delete_markers() {
        assert!(
            !erasable(m.key().unwrap_or_default()),
            "delete marker left: {m:?}"
        );
    }
    for v in versions.versions() {
        let key = v.key().unwrap_or_default();
        assert!(!key.starts_with("raw/"), "raw object left: {key}");
        if erasable(key) {
            assert_eq!(v.is_latest(), Some(true), "noncurrent version left: {key}");
        }
    }
}
