//! The plugin's API calls: connect like kubectl, read a service with its revisions, pods and
//! events, and send merge patches.

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use lockstep_crd::{AlbumService, AppService, NoteService, UserService};
use serde_json::Value;

use crate::Error;
use crate::cli::{Cli, Kind, Target, Timeout};
use crate::view::{EventView, RevisionView, ServiceView};

/// The operator's labels (see `lockstep_operator::core::render`).
const LABEL_SERVICE: &str = "lockstep.dev/service";
const LABEL_REVISION: &str = "lockstep.dev/revision";

/// Events shown by `status`.
const EVENTS_SHOWN: usize = 8;

/// A client and namespace from `--kubeconfig`/`$KUBECONFIG`, `--context` and `-n`.
pub async fn connect(cli: &Cli) -> Result<(Client, String), Error> {
    let options = KubeConfigOptions {
        context: cli.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match &cli.kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| Error::Kubeconfig(format!("{path}: {e}")))?;
            Config::from_custom_kubeconfig(file, &options).await
        }
        None => Config::from_kubeconfig(&options).await,
    }
    .map_err(|e| Error::Kubeconfig(e.to_string()))?;
    let mut config = config;
    with_timeout(&mut config, cli.request_timeout);
    let namespace = cli
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(|e| Error::Kubeconfig(e.to_string()))?;
    Ok((client, namespace))
}

/// `--request-timeout`: bounds connecting, sending and each read of a response.
pub fn with_timeout(config: &mut Config, timeout: Timeout) {
    if let Timeout(Some(limit)) = timeout {
        config.connect_timeout = Some(limit);
        config.read_timeout = Some(limit);
        config.write_timeout = Some(limit);
    }
}

/// Every service of `kind` in `namespace`, or in all namespaces.
pub async fn list(
    client: &Client,
    namespace: Option<&str>,
    kind: Kind,
) -> Result<Vec<DynamicObject>, Error> {
    let api = match namespace {
        Some(ns) => api(client, ns, kind),
        None => Api::all_with(client.clone(), &resource(kind)),
    };
    Ok(api
        .list(&ListParams::default())
        .await
        .map_err(Error::from_kube)?
        .items)
}

fn resource(kind: Kind) -> ApiResource {
    match kind {
        Kind::Album => ApiResource::erase::<AlbumService>(&()),
        Kind::Note => ApiResource::erase::<NoteService>(&()),
        Kind::User => ApiResource::erase::<UserService>(&()),
        Kind::App => ApiResource::erase::<AppService>(&()),
    }
}

fn api(client: &Client, ns: &str, kind: Kind) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &resource(kind))
}

/// Finds the service: under its kind, or under whichever kind has the name.
pub async fn resolve(
    client: &Client,
    ns: &str,
    target: &Target,
) -> Result<(Kind, DynamicObject), Error> {
    let kinds: Vec<Kind> = target.kind.map_or(Kind::ALL.to_vec(), |k| vec![k]);
    let mut found = Vec::new();
    for kind in kinds {
        if let Some(obj) = api(client, ns, kind)
            .get_opt(&target.name)
            .await
            .map_err(Error::from_kube)?
        {
            found.push((kind, obj));
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::NotFound {
            what: target
                .kind
                .map_or(
                    "AlbumService, NoteService, UserService or AppService",
                    Kind::name,
                )
                .to_owned(),
            name: target.name.clone(),
            namespace: ns.to_owned(),
        }),
        _ => Err(Error::Usage(format!(
            "{} are each named {}: say {}",
            found
                .iter()
                .map(|(kind, _)| kind.name())
                .collect::<Vec<_>>()
                .join(" and "),
            target.name,
            found
                .iter()
                .map(|(kind, _)| format!("{}/{}", kind.name().to_ascii_lowercase(), target.name))
                .collect::<Vec<_>>()
                .join(" or "),
        ))),
    }
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Everything `status`, `history` and `diff` show.
pub async fn load(
    client: &Client,
    ns: &str,
    kind: Kind,
    obj: &DynamicObject,
) -> Result<ServiceView, Error> {
    let name = obj.metadata.name.clone().unwrap_or_default();
    let spec = &obj.data["spec"];
    let status = serde_json::from_value(obj.data["status"].clone()).unwrap_or_default();
    let selector = ListParams::default().labels(&format!("{LABEL_SERVICE}={name}"));
    let records = Api::<ControllerRevision>::namespaced(client.clone(), ns)
        .list(&selector)
        .await
        .map_err(Error::from_kube)?;
    let pods = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&selector)
        .await
        .map_err(Error::from_kube)?;
    let mut revisions: Vec<RevisionView> = records
        .items
        .iter()
        .filter_map(|r| serde_json::from_value::<RevisionView>(r.data.as_ref()?.0.clone()).ok())
        .map(RevisionView::with_config_hash)
        .collect();
    for rev in &mut revisions {
        let label = rev.number.to_string();
        let of_rev = pods.items.iter().filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_REVISION))
                .is_some_and(|n| *n == label)
        });
        let (ready, total) = of_rev.fold((0, 0), |(r, t), p| (r + u32::from(is_ready(p)), t + 1));
        rev.pods = (ready, total);
    }
    revisions.sort_by_key(|r| std::cmp::Reverse(r.number));
    let fields = format!(
        "involvedObject.name={name},involvedObject.kind={}",
        kind.name()
    );
    let mut events: Vec<EventView> = Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default().fields(&fields))
        .await
        .map_err(Error::from_kube)?
        .items
        .into_iter()
        .map(|e| EventView {
            time: e
                .event_time
                .map(|t| t.0.to_string())
                .or(e.last_timestamp.map(|t| t.0.to_string()))
                .unwrap_or_default(),
            type_: e.type_.unwrap_or_default(),
            reason: e.reason.unwrap_or_default(),
            message: e.message.unwrap_or_default(),
        })
        .collect();
    events.sort_by(|a, b| a.time.cmp(&b.time));
    let skip = events.len().saturating_sub(EVENTS_SHOWN);
    events.drain(..skip);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    Ok(ServiceView {
        kind: kind.name().to_owned(),
        name,
        namespace: ns.to_owned(),
        version: text(&spec["release"]["version"]),
        image: text(&spec["release"]["image"]),
        paused: spec["paused"].as_bool().unwrap_or(false),
        steps: spec["rollout"]["steps"].as_array().map_or(0, Vec::len),
        status,
        revisions,
        events,
    })
}

/// Sends `patch` (a merge patch) to the service.
pub async fn patch(
    client: &Client,
    ns: &str,
    kind: Kind,
    name: &str,
    patch: &Value,
) -> Result<(), Error> {
    api(client, ns, kind)
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(Error::from_kube)?;
    Ok(())
}
