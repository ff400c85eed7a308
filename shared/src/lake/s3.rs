//! [`ObjectStore`] on Amazon S3 (and moto's server in tests, through `AWS_ENDPOINT_URL`).

use std::path::{Path, PathBuf};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use tokio::io::AsyncWriteExt;

use super::delta::TableLocation;
use super::error::{BoxError, LakeError as Error, Result};
use super::store::{ObjectMeta, ObjectStore, Precondition};
use super::table::Table;

/// One bucket through a shared S3 client (built once per cold start).
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    page_size: i32,
    // Kept for the Delta tables, which delta-rs reaches through its own client: the same
    // endpoint and region as the raw objects, whatever the environment says.
    endpoint: Option<String>,
    region: Option<String>,
}

fn status<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

fn storage(operation: &'static str, key: &str, e: impl Into<BoxError>) -> Error {
    Error::Storage {
        operation,
        key: key.to_string(),
        source: e.into(),
    }
}

impl S3Store {
    pub fn new(aws: &aws_config::SdkConfig, bucket: impl Into<String>) -> S3Store {
        S3Store {
            client: aws_sdk_s3::Client::new(aws),
            bucket: bucket.into(),
            page_size: 1000,
            endpoint: aws.endpoint_url().map(str::to_string),
            region: aws.region().map(|r| r.to_string()),
        }
    }

    /// Lists with smaller pages, so tests cover pagination with a few objects.
    pub fn with_page_size(mut self, page_size: i32) -> S3Store {
        self.page_size = page_size;
        self
    }

    /// The object, or `None` if there is no such key.
    async fn get_object(
        &self,
        key: &str,
    ) -> Result<Option<aws_sdk_s3::operation::get_object::GetObjectOutput>> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out)),
            Err(e) if status(&e) == Some(404) || e.code() == Some("NoSuchKey") => Ok(None),
            Err(e) => Err(storage("get", key, e)),
        }
    }

    /// Every page of a listing of `prefix`, optionally with `/` as the delimiter.
    async fn list_pages(
        &self,
        prefix: &str,
        delimited: bool,
    ) -> Result<Vec<aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output>> {
        let mut pages = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_delimiter(delimited.then(|| "/".to_string()))
                .max_keys(self.page_size)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| storage("list", prefix, e))?;
            token = page.next_continuation_token().map(str::to_string);
            let last = token.is_none() || page.is_truncated() != Some(true);
            pages.push(page);
            if last {
                return Ok(pages);
            }
        }
    }
}

impl ObjectStore for S3Store {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let pages = self.list_pages(prefix, false).await?;
        Ok(pages
            .iter()
            .flat_map(|page| page.contents())
            .filter_map(|o| {
                Some(ObjectMeta {
                    key: o.key()?.to_string(),
                    size: o.size().unwrap_or_default().max(0) as u64,
                })
            })
            .collect())
    }

    async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>> {
        let pages = self.list_pages(prefix, true).await?;
        Ok(pages
            .iter()
            .flat_map(|page| page.common_prefixes())
            .filter_map(|p| p.prefix().map(str::to_string))
            .collect())
    }

    async fn get_small(&self, key: &str) -> Result<Option<(Vec<u8>, String)>> {
        let Some(out) = self.get_object(key).await? else {
            return Ok(None);
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| storage("get", key, e))?;
        Ok(Some((body.to_vec(), etag)))
    }

    async fn fetch(&self, key: &str, scratch: &Path) -> Result<PathBuf> {
        let Some(out) = self.get_object(key).await? else {
            return Err(Error::ObjectMissing {
                key: key.to_string(),
            });
        };
        let local = |e: std::io::Error| storage("get", key, Error::io(scratch.display(), e));
        // Streamed to disk: a Firehose object can be 128 MiB, and several are read at once.
        let mut file = tokio::fs::File::create(scratch).await.map_err(local)?;
        let mut body = out.body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| storage("get", key, e))?;
            file.write_all(&chunk).await.map_err(local)?;
        }
        file.flush().await.map_err(local)?;
        Ok(scratch.to_path_buf())
    }

    async fn upload(&self, key: &str, file: &Path) -> Result<()> {
        let body = ByteStream::from_path(file)
            .await
            .map_err(|e| storage("put", key, e))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .map_err(|e| storage("put", key, e))?;
        Ok(())
    }

    async fn put_small(
        &self,
        key: &str,
        body: Vec<u8>,
        precondition: Option<Precondition>,
    ) -> Result<()> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        req = match precondition {
            None => req,
            Some(Precondition::Absent) => req.if_none_match("*"),
            Some(Precondition::Matches(etag)) => req.if_match(etag),
        };
        match req.send().await {
            Ok(_) => Ok(()),
            // 412: the condition failed; 409: a concurrent conditional write to the key won.
            // 404 for If-Match: the object it had to match is gone.
            Err(e) if matches!(status(&e), Some(412 | 409 | 404)) => {
                Err(Error::PreconditionFailed {
                    key: key.to_string(),
                })
            }
            Err(e) => Err(storage("put", key, e)),
        }
    }

    fn table_location(&self, table: &Table) -> Result<TableLocation> {
        TableLocation::s3(
            &self.bucket,
            &format!("lake/{}/", table.name),
            self.endpoint.as_deref(),
            self.region.as_deref(),
        )
    }

    async fn purge_noncurrent(&self, prefix: &str) -> Result<u64> {
        let mut doomed: Vec<(String, String)> = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .max_keys(self.page_size)
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker)
                .send()
                .await
                .map_err(|e| storage("list versions", prefix, e))?;
            for v in page.versions() {
                if v.is_latest() != Some(true) {
                    if let (Some(k), Some(id)) = (v.key(), v.version_id()) {
                        doomed.push((k.to_string(), id.to_string()));
                    }
                }
            }
            // A delete marker hides older versions; with those gone it goes too.
            for m in page.delete_markers() {
                if let (Some(k), Some(id)) = (m.key(), m.version_id()) {
                    doomed.push((k.to_string(), id.to_string()));
                }
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
        }
        let versioned: Vec<(String, Option<String>)> = doomed
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        self.delete_versions(&versioned).await?;
        Ok(doomed.len() as u64)
    }

    async fn delete(&self, keys: &[String]) -> Result<()> {
        let current: Vec<(String, Option<String>)> =
            keys.iter().map(|k| (k.clone(), None)).collect();
        self.delete_versions(&current).await
    }
}

impl S3Store {
    /// Deletes objects (the current version, or the given version), 1,000 per call.
    async fn delete_versions(&self, keys: &[(String, Option<String>)]) -> Result<()> {
        // DeleteObjects takes at most 1,000 keys.
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|(k, v)| {
                    ObjectIdentifier::builder()
                        .key(k)
                        .set_version_id(v.clone())
                        .build()
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| storage("delete", &chunk[0].0, e))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| storage("delete", &chunk[0].0, e))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| storage("delete", &chunk[0].0, e))?;
            if let Some(err) = out.errors().first() {
                return Err(storage(
                    "delete",
                    err.key().unwrap_or_default(),
                    format!(
                        "{}: {}",
                        err.code().unwrap_or("error"),
                        err.message().unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(())
    }
}
