//! The `containers` section: the registry where CI pushed each build's
//! images (tagged with the build's full hash) and its namespace, the list
//! of images (`images_from`, a file in the build's image directory, or a
//! fixed `images`), the registries that receive copies, the credentials
//! file, and the registries spoken to over plain HTTP.

use serde_yaml::{Mapping, Value};

use super::validate::Reader;
use super::{ContainerImages, ContainerRepo, ContainersDef};

const CONTAINERS_KEYS: &[&str] = &[
    "registry",
    "namespace",
    "images_from",
    "images",
    "push",
    "auth_file",
    "insecure",
];
const PUSH_KEYS: &[&str] = &["registry", "namespace"];

impl Reader<'_> {
    pub(super) fn containers(
        &mut self,
        v: &Value,
        base: &std::path::Path,
    ) -> Option<ContainersDef> {
        let p = ["containers"];
        let m = self.mapping(v, &p)?;
        self.check_keys(m, CONTAINERS_KEYS, &p);
        let source = self.repo(m, &p);
        let images = match (m.get("images_from"), m.get("images")) {
            (Some(_), Some(_)) => {
                self.err(
                    &["containers", "images"],
                    "give either images_from (a file of the build's image directory) or images (a fixed list), not both",
                );
                None
            }
            (Some(v), None) => {
                let names = self.file_names(
                    &Value::Sequence(vec![v.clone()]),
                    &["containers", "images_from"],
                );
                names.into_iter().next().map(ContainerImages::From)
            }
            (None, Some(v)) => {
                let names = self.string_list(v, &["containers", "images"]);
                for n in &names {
                    if let Err(e) = crate::registry::check_repository(n) {
                        self.err(&["containers", "images"], format!("{n:?}: {e}"));
                    }
                }
                if names.is_empty() {
                    self.err(&["containers", "images"], "the list is empty");
                }
                Some(ContainerImages::Fixed(names))
            }
            (None, None) => {
                self.err(
                    &p,
                    "missing: images_from (a file of the build's image directory, one image a line) or images (a fixed list)",
                );
                None
            }
        };
        let push = match m.get("push") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(items)) => items
                .iter()
                .filter_map(|i| {
                    let body = self.mapping(i, &["containers", "push"])?;
                    self.check_keys(body, PUSH_KEYS, &["containers", "push"]);
                    self.repo(body, &["containers", "push"])
                })
                .collect(),
            Some(_) => {
                self.err(
                    &["containers", "push"],
                    "expected a list of {registry, namespace}",
                );
                Vec::new()
            }
        };
        if let Some(s) = &source {
            if push.iter().any(|r| r == s) {
                self.err(
                    &["containers", "push"],
                    "a push registry is the source itself",
                );
            }
        }
        let auth_file = match m.get("auth_file") {
            Some(v) => match self.string(v, &["containers", "auth_file"]) {
                Some(s) if !s.is_empty() => Some(base.join(s)),
                Some(_) => {
                    self.err(&["containers", "auth_file"], "the path is empty");
                    None
                }
                None => None,
            },
            None => None,
        };
        let insecure = match m.get("insecure") {
            Some(v) => self.string_list(v, &["containers", "insecure"]),
            None => Vec::new(),
        };
        for h in &insecure {
            if let Err(e) = crate::registry::check_host(h) {
                self.err(&["containers", "insecure"], format!("{h:?}: {e}"));
            }
        }
        Some(ContainersDef {
            source: source?,
            images: images?,
            push,
            auth_file,
            insecure,
        })
    }

    /// A registry and a namespace in it.
    fn repo(&mut self, m: &Mapping, path: &[&str]) -> Option<ContainerRepo> {
        let key = |k: &'static str| {
            let mut p = path.to_vec();
            p.push(k);
            p
        };
        let registry = match m.get("registry") {
            Some(v) => self.string(v, &key("registry")),
            None => {
                self.err(&key("registry"), "missing: the registry's host[:port]");
                None
            }
        };
        let registry = registry.filter(|h| match crate::registry::check_host(h) {
            Ok(()) => true,
            Err(e) => {
                self.err(&key("registry"), format!("{h:?}: {e}"));
                false
            }
        });
        let namespace = match m.get("namespace") {
            Some(v) => self.string(v, &key("namespace")),
            None => {
                self.err(
                    &key("namespace"),
                    "missing: the namespace the images are in",
                );
                None
            }
        };
        let namespace = namespace.filter(|n| match crate::registry::check_repository(n) {
            Ok(()) => true,
            Err(e) => {
                self.err(&key("namespace"), format!("{n:?}: {e}"));
                false
            }
        });
        Some(ContainerRepo {
            registry: registry?,
            namespace: namespace?,
        })
    }
}
