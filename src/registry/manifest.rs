//! Manifests as the distribution API serves them: OCI image manifests and
//! indexes, Docker v2 schema 2 manifests and manifest lists. A manifest is
//! kept as the registry's bytes (its digest is the sha256 of exactly those
//! bytes, so a tag or a copy must carry them unchanged); what it refers to
//! (child manifests, a config blob, layers) is read from them.

use sha2::{Digest as _, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// What a manifest request accepts: every kind this client can copy.
pub const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// A manifest, as the registry served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub digest: String,
}

/// What a manifest refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refs {
    /// An index or manifest list: its child manifests' digests.
    Index(Vec<String>),
    /// An image: its config and layer blobs (foreign layers, which live
    /// elsewhere, left out).
    Image(Vec<String>),
}

/// The digest of `bytes`: `sha256:<hex>`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", crate::hex::encode(&Sha256::digest(bytes)))
}

/// Whether `s` is a sha256 digest.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl Manifest {
    /// A manifest served with `content_type` (the body's `mediaType`
    /// wins when the header is generic or missing).
    pub fn new(content_type: Option<&str>, bytes: Vec<u8>) -> Result<Manifest, String> {
        let doc: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("the manifest is not JSON: {e}"))?;
        let declared = doc.get("mediaType").and_then(|m| m.as_str());
        let header = content_type
            .map(|c| c.split(';').next().unwrap_or(c).trim())
            .filter(|c| !c.is_empty() && *c != "application/json");
        let media_type = match (declared, header) {
            (Some(d), _) => d.to_string(),
            (None, Some(h)) => h.to_string(),
            // An OCI manifest may leave mediaType out: its shape tells.
            (None, None) if doc.get("manifests").is_some() => OCI_INDEX.into(),
            (None, None) => OCI_MANIFEST.into(),
        };
        if doc.get("schemaVersion").and_then(|v| v.as_u64()) == Some(1)
            || media_type.starts_with("application/vnd.docker.distribution.manifest.v1")
        {
            return Err("it is a Docker schema 1 manifest, which registries no longer accept: rebuild the image".into());
        }
        if ![OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].contains(&media_type.as_str()) {
            return Err(format!(
                "media type {media_type:?} is not a manifest this promoter copies"
            ));
        }
        let digest = digest_of(&bytes);
        Ok(Manifest {
            media_type,
            bytes,
            digest,
        })
    }

    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_LIST
    }

    /// What it refers to, each digest checked.
    pub fn refs(&self) -> Result<Refs, String> {
        let doc: serde_json::Value =
            serde_json::from_slice(&self.bytes).map_err(|e| e.to_string())?;
        let digest = |v: &serde_json::Value, what: &str| -> Result<String, String> {
            let d = v
                .get("digest")
                .and_then(|d| d.as_str())
                .ok_or_else(|| format!("a {what} without a digest"))?;
            if !is_digest(d) {
                return Err(format!("{what} digest {d:?} is not sha256:<hex>"));
            }
            Ok(d.to_string())
        };
        let list = |key: &str| -> Vec<serde_json::Value> {
            doc.get(key)
                .and_then(|m| m.as_array())
                .cloned()
                .unwrap_or_default()
        };
        if self.is_index() {
            let children = list("manifests")
                .iter()
                .map(|m| digest(m, "child manifest"))
                .collect::<Result<_, _>>()?;
            return Ok(Refs::Index(children));
        }
        let config = doc
            .get("config")
            .ok_or("an image manifest without a config")?;
        let mut blobs = vec![digest(config, "config")?];
        for layer in list("layers") {
            let foreign = layer
                .get("mediaType")
                .and_then(|m| m.as_str())
                .is_some_and(|m| m.contains("foreign") || m.contains("nondistributable"));
            if !foreign {
                blobs.push(digest(&layer, "layer")?);
            }
        }
        Ok(Refs::Image(blobs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn an_image_manifest_refers_to_its_config_and_layers_but_not_foreign_ones() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"digest":"{D1}"}},
               "layers":[{{"digest":"{D2}"}},{{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"{D1}"}}]}}"#
        );
        let m = Manifest::new(Some("application/json"), body.clone().into_bytes()).unwrap();
        assert_eq!(m.media_type, DOCKER_MANIFEST);
        assert_eq!(m.digest, digest_of(body.as_bytes()));
        assert_eq!(m.refs().unwrap(), Refs::Image(vec![D1.into(), D2.into()]));
    }

    #[test]
    fn an_index_refers_to_its_children_and_the_header_names_an_oci_one() {
        let body = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"{D1}"}},{{"digest":"{D2}"}}]}}"#
        );
        let m = Manifest::new(Some(OCI_INDEX), body.clone().into_bytes()).unwrap();
        assert!(m.is_index());
        assert_eq!(m.refs().unwrap(), Refs::Index(vec![D1.into(), D2.into()]));
        let m = Manifest::new(None, body.into_bytes()).unwrap();
        assert_eq!(m.media_type, OCI_INDEX, "its shape tells");
    }

    #[test]
    fn schema_1_other_types_and_bad_digests_are_refused() {
        assert!(Manifest::new(None, br#"{"schemaVersion":1}"#.to_vec()).is_err());
        assert!(Manifest::new(Some("text/plain"), b"{}".to_vec()).is_err());
        assert!(Manifest::new(None, b"not json".to_vec()).is_err());
        let m = Manifest::new(
            Some(OCI_MANIFEST),
            br#"{"config":{"digest":"md5:00"},"layers":[]}"#.to_vec(),
        )
        .unwrap();
        assert!(m.refs().is_err());
        assert!(is_digest(D1));
        assert!(!is_digest("sha256:ABC"));
    }
}
