//! A promotion's containers step: before its links move, every image of
//! the build must be in the source registry at `:<full_hash>`; each is
//! copied to every push registry under that tag (only what a registry
//! lacks is sent), then tagged `:<label>` in the source and every push
//! registry, and every tag is read back and its digest compared. No label
//! tag moves until every image is in every registry; tagging is
//! idempotent, so a run that died or failed half-way is completed by the
//! next one. The tags made are recorded per image, with their digests.
//!
//! Whether the images are there is asked of the registry by `run` when it
//! decides (and remembered per image: one found is not asked again); `why`
//! and `status` read what was remembered.

use super::{Carry, Trees};
use crate::config::{Config, ContainerImages, ContainersDef, PromotionDef};
use crate::error::Result;
use crate::ident::Label;
use crate::registry::{self, Client, Counts, Manifest, Repo};
use crate::store::builds::Build;
use crate::store::containers::{Checked, NewTag};
use crate::store::runs::Attempt;
use crate::store::Store;

/// The largest list of images read.
const MAX_LIST: u64 = 1 << 20;
/// How many missing images a reason names.
const NAMED: usize = 5;

/// What a containers step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub images: usize,
    /// Registries tagged: the source and the push registries.
    pub registries: usize,
    pub requests: Counts,
}

impl std::fmt::Display for Tagged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.requests;
        write!(
            f,
            "tagged {} images in {} {}: {} requests ({} manifest puts, {} blobs moved)",
            self.images,
            self.registries,
            if self.registries == 1 {
                "registry"
            } else {
                "registries"
            },
            r.total(),
            r.manifest_put,
            r.blobs_moved()
        )
    }
}

/// The containers of promotion `p`, if it moves any.
fn def<'a>(cfg: &'a Config, p: &PromotionDef) -> Option<&'a ContainersDef> {
    cfg.containers.as_ref().filter(|_| p.containers)
}

/// The image names of `build`: the fixed list, or its image directory's
/// file, one a line (blank lines and `#` comments skipped).
pub fn images_of(
    def: &ContainersDef,
    trees: &Trees,
    build: &Build,
) -> std::result::Result<Vec<String>, String> {
    let file = match &def.images {
        ContainerImages::Fixed(names) => return Ok(names.clone()),
        ContainerImages::From(f) => f,
    };
    let lacks = || format!("its image directory lacks {file}, which containers.images_from names");
    let text = match &trees.remote_images {
        Some(r) => r
            .read_file(&build.full_hash, file, MAX_LIST)?
            .ok_or_else(lacks)?,
        None => {
            let path = trees.images.join(build.full_hash.as_str()).join(file);
            match crate::input::read(&path, MAX_LIST) {
                Ok(b) => b,
                Err(crate::input::InputError::NotFound(_)) => return Err(lacks()),
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            }
        }
    };
    let text = String::from_utf8(text).map_err(|_| format!("its {file} is not UTF-8 text"))?;
    let mut names = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let name = line.trim();
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        registry::check_repository(name)
            .map_err(|e| format!("its {file}, line {}: {name:?}: {e}", n + 1))?;
        if !names.iter().any(|x| x == name) {
            names.push(name.to_string());
        }
    }
    if names.is_empty() {
        return Err(format!("its {file} names no image"));
    }
    Ok(names)
}

fn repo(r: &crate::config::ContainerRepo, image: &str) -> Repo {
    Repo {
        registry: r.registry.clone(),
        name: format!("{}/{image}", r.namespace),
    }
}

/// A client with the config's credentials.
pub fn client(def: &ContainersDef, cfg: &Config) -> std::result::Result<Client, String> {
    let auth = match &def.auth_file {
        Some(p) => registry::AuthFile::read(p)?,
        None => registry::AuthFile::default(),
    };
    Ok(Client::new(auth, def.insecure.clone(), cfg.push_timeout))
}

/// Why `build`'s containers block promotion `p`, from what was
/// remembered: a missing list, or images the registry lacked when last
/// asked. No registry is asked.
pub fn blocked(
    store: &Store,
    cfg: &Config,
    trees: &Trees,
    p: &PromotionDef,
    build: &Build,
) -> Result<Option<String>> {
    let Some(def) = def(cfg, p) else {
        return Ok(None);
    };
    let images = match images_of(def, trees, build) {
        Ok(i) => i,
        Err(reason) => return Ok(Some(reason)),
    };
    let mut missing = Vec::new();
    for image in &images {
        let r = repo(&def.source, image);
        if let Checked::Missing { .. } = store.container_check(build.id, &r.registry, &r.name)? {
            missing.push(image.as_str());
        }
    }
    Ok(missing_reason(def, build, &missing))
}

/// Asks the source registry about each image of `build` not found there
/// before, remembers the answers, and says why they block promotion `p`,
/// if they do.
pub fn check(
    store: &Store,
    cfg: &Config,
    trees: &Trees,
    p: &PromotionDef,
    build: &Build,
) -> Result<Option<String>> {
    let Some(def) = def(cfg, p) else {
        return Ok(None);
    };
    let images = match images_of(def, trees, build) {
        Ok(i) => i,
        Err(reason) => return Ok(Some(reason)),
    };
    let mut client = None;
    let mut missing = Vec::new();
    for image in &images {
        let r = repo(&def.source, image);
        if let Checked::Found { .. } = store.container_check(build.id, &r.registry, &r.name)? {
            continue;
        }
        if client.is_none() {
            match self::client(def, cfg) {
                Ok(c) => client = Some(c),
                Err(e) => return Ok(Some(e)),
            }
        }
        let c = client.as_ref().expect("made above");
        let digest = match c.manifest_digest(&r, build.full_hash.as_str()) {
            Ok(d) => d,
            // Not the build's fault: it is blocked for now, nothing kept.
            Err(e) => {
                return Ok(Some(format!(
                    "its container images could not be looked up: {e}"
                )))
            }
        };
        store.remember_container_check(
            build.id,
            &r.registry,
            &r.name,
            digest.as_deref(),
            crate::clock::now(),
        )?;
        if digest.is_none() {
            missing.push(image.as_str());
        }
    }
    Ok(missing_reason(def, build, &missing))
}

fn missing_reason(def: &ContainersDef, build: &Build, missing: &[&str]) -> Option<String> {
    if missing.is_empty() {
        return None;
    }
    let mut named = missing[..missing.len().min(NAMED)].join(", ");
    if missing.len() > NAMED {
        named.push_str(&format!(" and {} more", missing.len() - NAMED));
    }
    let s = if missing.len() == 1 { "" } else { "s" };
    Some(format!(
        "container image{s} {named} not in {}/{} at :{}",
        def.source.registry, def.source.namespace, build.full_hash
    ))
}

/// What the step would do for `build` under `label`, one line a tag
/// (`run --dry-run`); nothing for a promotion without containers.
pub fn plan(cfg: &Config, trees: &Trees, p: &PromotionDef, build: &Build) -> Vec<String> {
    let Some(def) = def(cfg, p) else {
        return Vec::new();
    };
    let images = match images_of(def, trees, build) {
        Ok(i) => i,
        Err(reason) => return vec![format!("would not tag containers: {reason}")],
    };
    let mut out = Vec::new();
    for image in &images {
        let src = repo(&def.source, image);
        out.push(format!(
            "would tag {src}:{} as :{}",
            build.full_hash, p.name
        ));
        for r in &def.push {
            out.push(format!(
                "would copy {src}:{} to {} as :{} and :{}",
                build.full_hash,
                repo(r, image),
                build.full_hash,
                p.name
            ));
        }
    }
    out
}

/// Carries out the step for `attempt` (promoting `build` to `label`);
/// `None` for a promotion without containers. The reason it failed, if it
/// did: the links have not moved.
pub(super) fn tag(
    store: &mut Store,
    c: &Carry,
    attempt: &Attempt,
    label: &Label,
    build: &Build,
) -> Result<std::result::Result<Option<Tagged>, String>> {
    let Some(p) = c.cfg.promotion(label.as_str()) else {
        return Ok(Ok(None));
    };
    let Some(def) = def(c.cfg, p) else {
        return Ok(Ok(None));
    };
    let images = match images_of(def, c.trees, build) {
        Ok(i) => i,
        Err(reason) => return Ok(Err(format!("build {}: {reason}", build.full_hash))),
    };
    let client = match client(def, c.cfg) {
        Ok(cl) => cl,
        Err(e) => return Ok(Err(e)),
    };
    let failed = |e: String| {
        Ok(Err(format!(
            "tagging the container images stopped, no link moved: {e}"
        )))
    };
    let full = build.full_hash.as_str();
    if let Err(e) = registry::check_tag(full).and(registry::check_tag(label.as_str())) {
        return failed(e);
    }
    // Every image into every registry under the build's own tag first: a
    // label tag moves only once all of them are everywhere.
    let mut manifests: Vec<(&str, Manifest)> = Vec::with_capacity(images.len());
    for image in &images {
        let src = repo(&def.source, image);
        let m = match client.get_manifest(&src, full) {
            Ok(Some(m)) => m,
            Ok(None) => {
                store.remember_container_check(
                    build.id,
                    &src.registry,
                    &src.name,
                    None,
                    crate::clock::now(),
                )?;
                return failed(format!("container image {src} has no tag {full}"));
            }
            Err(e) => return failed(e),
        };
        for r in &def.push {
            let dst = repo(r, image);
            let copied = client
                .copy_content(&src, &dst, &m)
                .and_then(|()| client.put_manifest(&dst, full, &m))
                .and_then(|()| read_back(&client, &dst, full, &m));
            if let Err(e) = copied {
                return failed(e);
            }
        }
        manifests.push((image, m));
    }
    for (image, m) in &manifests {
        let src = repo(&def.source, image);
        let mut made = Vec::with_capacity(1 + 2 * def.push.len());
        let targets = std::iter::once(src).chain(def.push.iter().map(|r| repo(r, image)));
        for (i, dst) in targets.enumerate() {
            if let Err(e) = client
                .put_manifest(&dst, label.as_str(), m)
                .and_then(|()| read_back(&client, &dst, label.as_str(), m))
            {
                return failed(e);
            }
            made.push((dst.clone(), label.as_str()));
            if i > 0 {
                made.push((dst, full));
            }
        }
        let tags: Vec<NewTag> = made
            .iter()
            .map(|(r, t)| NewTag {
                registry: &r.registry,
                repository: &r.name,
                tag: t,
                digest: &m.digest,
            })
            .collect();
        store.record_container_tags(
            attempt.id,
            label.as_str(),
            build.id,
            image,
            &tags,
            crate::clock::now(),
        )?;
        crate::fault::point("containers-image");
    }
    Ok(Ok(Some(Tagged {
        images: manifests.len(),
        registries: 1 + def.push.len(),
        requests: client.counts(),
    })))
}

/// Reads tag `tag` of `repo` back: it must name `m`.
fn read_back(
    client: &Client,
    repo: &Repo,
    tag: &str,
    m: &Manifest,
) -> std::result::Result<(), String> {
    match client.manifest_digest(repo, tag)? {
        Some(d) if d == m.digest => Ok(()),
        Some(d) => Err(format!("{repo}:{tag} reads back as {d}, not {}", m.digest)),
        None => Err(format!("{repo}:{tag} is not there after it was put")),
    }
}
