//! The writing verbs: create, update, merge patch, server-side apply, delete with garbage
//! collection, and the checks every write passes through.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{ApiError, Change, Collection, Key, Store, Stored, not_found, spec_part};
use crate::ssa::{self, Path};

impl Store {
    /// CREATE: `422 Invalid` by the CRD first, then `409 AlreadyExists` if the name is taken; uid, resourceVersion, creation time and
    /// generation 1 are set by the server; status is dropped where it is a subresource.
    pub fn create(
        &mut self,
        c: &Collection,
        namespace: &str,
        mut body: Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        self.uid += 1;
        if body["metadata"]["name"].as_str().is_none_or(str::is_empty) {
            match body["metadata"]["generateName"].as_str() {
                Some(prefix) => {
                    body["metadata"]["name"] = json!(format!("{prefix}{:05}", self.uid))
                }
                None => {
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        "metadata.name: Required value",
                    ));
                }
            }
        }
        let key = key_of(c, namespace, &body);
        // Validation comes before storage on a real server (`BeforeCreate`, then the store's
        // create): an invalid object is 422 even when its name is taken.
        self.admit(&key, &mut body)?;
        if self.stored(&key).is_some() {
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{}\" already exists", c.resource, key.name),
            ));
        }
        if self.has_status(c)
            && let Value::Object(m) = &mut body
        {
            m.remove("status");
        }
        let meta = &mut body["metadata"];
        if namespace.is_empty() {
            // Cluster-scoped: no namespace field at all, as a real server stores it.
            if let Value::Object(m) = meta {
                m.remove("namespace");
            }
        } else {
            meta["namespace"] = json!(namespace);
        }
        meta["uid"] = json!(format!("fake-uid-{}", self.uid));
        meta["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        if self.has_status(c) {
            meta["generation"] = json!(1);
        }
        let managers = BTreeMap::from([(manager.to_owned(), ssa::fields(&body))]);
        self.commit(&key, None, body, managers)
    }

    /// UPDATE (PUT): the whole object. A `metadata.resourceVersion` that is not the current one
    /// is `409 Conflict` (optimistic concurrency, `api-conventions.md` "Concurrency Control").
    pub fn replace(
        &mut self,
        key: &Key,
        body: Value,
        status: bool,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let old = self.get(key)?;
        self.check_version(key, &old, &body)?;
        let new = self.split(key, &old, body, status);
        let managers = self.take_ownership(key, manager, &new);
        self.commit(key, Some(&old), new, managers)
    }

    /// JSON merge patch (RFC 7386; `null` deletes). On the main resource a status change is
    /// ignored, on `/status` everything else is.
    pub fn merge_patch(
        &mut self,
        key: &Key,
        patch: &Value,
        status: bool,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let old = self.get(key)?;
        self.check_version(key, &old, patch)?;
        let mut merged = old.clone();
        lockstep_crd::merge::apply(&mut merged, patch);
        let new = self.split(key, &old, merged, status);
        let managers = self.take_ownership(key, manager, patch);
        self.commit(key, Some(&old), new, managers)
    }

    /// Server-side apply by `manager`: creates the object if missing; fields the manager owned
    /// and no longer sends are removed; a field another manager owns with another value is a
    /// `409 Conflict` unless `force` (then ownership moves).
    pub fn apply(
        &mut self,
        key: &Key,
        body: Value,
        manager: &str,
        force: bool,
        status: bool,
    ) -> Result<Value, ApiError> {
        let Some(stored) = self.stored(key) else {
            let mut body = body;
            body["metadata"]["name"] = json!(key.name);
            return self.create(&key.collection, &key.namespace, body, manager);
        };
        let old = stored.object.clone();
        let mut managers = stored.managers.clone();
        let sent = ssa::fields(&body);
        let mut conflicts = Vec::new();
        for (other, owned) in managers.iter_mut().filter(|(m, _)| m.as_str() != manager) {
            for path in owned.intersection(&sent).cloned().collect::<Vec<_>>() {
                if ssa::get(&old, &path) != ssa::get(&body, &path) {
                    if !force {
                        conflicts.push(format!("conflict with \"{other}\": .{}", path.join(".")));
                    }
                    owned.remove(&path);
                }
            }
        }
        if !conflicts.is_empty() {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Apply failed with {} conflicts: {}",
                    conflicts.len(),
                    conflicts.join("; ")
                ),
            ));
        }
        let mut new = old.clone();
        let before = managers.remove(manager).unwrap_or_default();
        for path in before.difference(&sent) {
            if !managers.values().any(|owned| owned.contains(path)) {
                ssa::remove(&mut new, path);
            }
        }
        for path in &sent {
            ssa::set(
                &mut new,
                path,
                ssa::get(&body, path).cloned().unwrap_or(Value::Null),
            );
        }
        managers.insert(manager.to_owned(), sent);
        managers.retain(|_, owned| !owned.is_empty());
        let new = self.split(key, &old, new, status);
        self.commit(key, Some(&old), new, managers)
    }

    /// DELETE, then garbage collection: every object in the namespace with an ownerReference to
    /// the deleted uid goes too, transitively ("Garbage Collection", background propagation).
    pub fn delete(&mut self, key: &Key) -> Result<Value, ApiError> {
        let old = self
            .objects
            .get_mut(&key.collection)
            .and_then(|m| m.remove(&(key.namespace.clone(), key.name.clone())))
            .ok_or_else(|| not_found(key))?;
        self.rv += 1;
        self.record(Change {
            rv: self.rv,
            collection: key.collection.clone(),
            kind: "DELETED",
            object: old.object.clone(),
        });
        let uid = old.object["metadata"]["uid"].clone();
        let dependents: Vec<Key> = self
            .objects
            .iter()
            .flat_map(|(c, m)| m.iter().map(move |((ns, name), s)| (c, ns, name, s)))
            .filter(|(_, ns, _, s)| {
                **ns == key.namespace
                    && s.object["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
            })
            .map(|(c, ns, name, _)| Key {
                collection: c.clone(),
                namespace: ns.clone(),
                name: name.clone(),
            })
            .collect();
        for dependent in dependents {
            let _ = self.delete(&dependent);
        }
        Ok(old.object)
    }

    /// Stores an object as is, without any check: for tests of what the operator does with
    /// objects a real server holds but the operator cannot decode.
    pub fn insert_raw(&mut self, c: &Collection, namespace: &str, mut object: Value) -> Value {
        self.uid += 1;
        object["metadata"]["namespace"] = json!(namespace);
        if object["metadata"]["uid"].is_null() {
            object["metadata"]["uid"] = json!(format!("fake-uid-{}", self.uid));
        }
        let key = key_of(c, namespace, &object);
        let old = self.stored(&key).map(|s| s.object.clone());
        self.commit_raw(&key, old.as_ref(), object, BTreeMap::new())
            .unwrap_or(Value::Null)
    }

    fn check_version(&self, key: &Key, old: &Value, body: &Value) -> Result<(), ApiError> {
        match body["metadata"]["resourceVersion"].as_str() {
            Some(sent) if Some(sent) != old["metadata"]["resourceVersion"].as_str() => {
                Err(ApiError::new(
                    409,
                    "Conflict",
                    format!(
                        "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                        key.collection.resource, key.name
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The main resource keeps the old status; `/status` keeps everything but the new status.
    fn split(&self, key: &Key, old: &Value, mut new: Value, status: bool) -> Value {
        if !self.has_status(&key.collection) {
            return new;
        }
        if status {
            let mut kept = old.clone();
            match new.get_mut("status").map(Value::take) {
                Some(s) => kept["status"] = s,
                None => {
                    if let Value::Object(m) = &mut kept {
                        m.remove("status");
                    }
                }
            }
            kept
        } else {
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Value::Object(m) = &mut new {
                        m.remove("status");
                    }
                }
            }
            new
        }
    }

    /// An update or merge patch makes `manager` own the fields it wrote.
    fn take_ownership(
        &self,
        key: &Key,
        manager: &str,
        written: &Value,
    ) -> BTreeMap<String, BTreeSet<Path>> {
        let mut managers = self
            .stored(key)
            .map(|s| s.managers.clone())
            .unwrap_or_default();
        let fields = ssa::fields(written);
        for owned in managers.values_mut() {
            owned.retain(|p| !fields.contains(p));
        }
        managers
            .entry(manager.to_owned())
            .or_default()
            .extend(fields);
        managers.retain(|_, owned| !owned.is_empty());
        managers
    }

    /// Admits (a custom resource by its stored CRD, see `admission.rs`) and stores a write.
    fn commit(
        &mut self,
        key: &Key,
        old: Option<&Value>,
        mut new: Value,
        managers: BTreeMap<String, BTreeSet<Path>>,
    ) -> Result<Value, ApiError> {
        self.admit(key, &mut new)?;
        self.commit_raw(key, old, new, managers)
    }

    /// Validates and stores a write; an unchanged object is a no-op (no new resourceVersion,
    /// no watch event), as on a real server.
    fn commit_raw(
        &mut self,
        key: &Key,
        old: Option<&Value>,
        mut new: Value,
        managers: BTreeMap<String, BTreeSet<Path>>,
    ) -> Result<Value, ApiError> {
        if let Some(old) = old {
            immutable_config_map(key, old, &new)?;
            for field in [
                "uid",
                "creationTimestamp",
                "generation",
                "resourceVersion",
                "name",
                "namespace",
            ] {
                match (old["metadata"].get(field), &mut new["metadata"]) {
                    (Some(value), meta) => meta[field] = value.clone(),
                    (None, Value::Object(meta)) => {
                        meta.remove(field);
                    }
                    (None, _) => {}
                }
            }
            if spec_part(old) != spec_part(&new) && old["metadata"]["generation"].is_i64() {
                new["metadata"]["generation"] =
                    json!(old["metadata"]["generation"].as_i64().unwrap_or(0) + 1);
            }
        }
        if key.collection.resource == "customresourcedefinitions" {
            new["status"] = crd_status(&new);
        }
        if self.deployments_ready && key.collection.resource == "deployments" {
            new["status"] = self.deployment_status(&key.namespace, &key.name, &new);
        }
        if old == Some(&new) {
            if let Some(s) = self
                .objects
                .get_mut(&key.collection)
                .and_then(|m| m.get_mut(&(key.namespace.clone(), key.name.clone())))
            {
                s.managers = managers;
            }
            return Ok(new);
        }
        self.rv += 1;
        new["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.record(Change {
            rv: self.rv,
            collection: key.collection.clone(),
            kind: if old.is_some() { "MODIFIED" } else { "ADDED" },
            object: new.clone(),
        });
        self.objects
            .entry(key.collection.clone())
            .or_default()
            .insert(
                (key.namespace.clone(), key.name.clone()),
                Stored {
                    object: new.clone(),
                    managers,
                },
            );
        if self.deployments_ready && key.collection.resource == "configmaps" {
            self.kubelet(&key.namespace, &key.name);
            self.start_waiting_jobs(&key.namespace, &key.name);
        }
        if self.deployments_ready && key.collection.resource == "jobs" && old.is_none() {
            // The create answers with the Job as created; its status follows as a change.
            self.run_job(&key.namespace, &new);
        }
        Ok(new)
    }
}

/// What the apiextensions controllers report for a CRD they accept: its names, and the
/// `NamesAccepted` and `Established` conditions (asynchronous on a real server, at once here;
/// no name conflicts are modelled).
fn crd_status(crd: &Value) -> Value {
    let condition = |type_: &str, reason: &str| {
        json!({"type": type_, "status": "True", "reason": reason, "message": "",
               "lastTransitionTime": "1970-01-01T00:00:00Z"})
    };
    let versions: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"] == json!(true))
        .map(|v| v["name"].clone())
        .collect();
    json!({
        "acceptedNames": crd["spec"]["names"],
        "conditions": [condition("NamesAccepted", "NoConflicts"),
                       condition("Established", "InitialNamesAccepted")],
        "storedVersions": versions,
    })
}

/// Where `object` (by its `metadata.name`) lives in `c` and `namespace`.
fn key_of(c: &Collection, namespace: &str, object: &Value) -> Key {
    Key {
        collection: c.clone(),
        namespace: namespace.to_owned(),
        name: object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// An immutable ConfigMap refuses changes to its data and cannot become mutable again
/// ("ConfigMaps", "Immutable ConfigMaps").
fn immutable_config_map(key: &Key, old: &Value, new: &Value) -> Result<(), ApiError> {
    if key.collection.resource != "configmaps" || old["immutable"] != json!(true) {
        return Ok(());
    }
    if ["data", "binaryData", "immutable"]
        .iter()
        .any(|f| old[*f] != new[*f])
    {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!(
                "ConfigMap \"{}\" is invalid: data: Forbidden: field is immutable when `immutable` is set",
                key.name
            ),
        ));
    }
    Ok(())
}
