//! The album API over gRPC (tonic): the same domain, store and validation as the HTTP API, on
//! its own port (`grpc.port` in the config), with the standard health service
//! (`grpc.health.v1`) and server reflection (`grpc.reflection.v1`), so `grpcurl` and load
//! balancers work without the `.proto` file.
//!
//! Errors map as HTTP's do: a field that breaks a rule is `INVALID_ARGUMENT` with
//! `<field>: <rule>` (HTTP 422), a missing album `NOT_FOUND` (404), a storage failure
//! `UNAVAILABLE` (503).

use std::str::FromStr;

use lockstep_service_config::Pagination;
use lockstep_service_kit::idempotency::Answer;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};

use crate::domain::{Album, AlbumChanges, AlbumStore, DomainError, ListQuery, NewAlbum};

/// The generated messages and service traits (`proto/album/v1/album.proto`).
#[allow(missing_docs, clippy::all, clippy::pedantic, unreachable_pub)]
pub mod pb {
    tonic::include_proto!("album.v1");

    /// The encoded descriptors reflection serves.
    pub const DESCRIPTORS: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/album_descriptor.bin"));
}

use pb::album_service_server::{AlbumService, AlbumServiceServer};

/// The gRPC album service over a store.
#[derive(Debug, Clone)]
pub struct AlbumGrpc<S> {
    store: S,
    pagination: Pagination,
}

impl From<DomainError> for Status {
    fn from(e: DomainError) -> Status {
        match e {
            DomainError::Invalid { field, message } => {
                Status::invalid_argument(format!("{field}: {message}"))
            }
            DomainError::NotFound(id) => Status::not_found(format!("album {id} not found")),
            DomainError::PreconditionFailed => {
                Status::failed_precondition("the album changed since it was read")
            }
            DomainError::Storage(cause) => {
                tracing::error!(error = %cause, "storage failed");
                Status::unavailable("storage is unavailable")
            }
        }
    }
}

fn to_pb(a: Album) -> pb::Album {
    pb::Album {
        id: a.id,
        title: a.title,
        artist: a.artist,
        price: format!("{:.2}", a.price),
        created_at: lockstep_service_kit::time::format(&a.created_at),
    }
}

fn price(text: &str) -> Result<Decimal, Status> {
    Decimal::from_str(text.trim())
        .map_err(|_| Status::invalid_argument(format!("price: {text:?} is not a decimal")))
}

fn id(raw: i64) -> Result<i64, Status> {
    if raw > 0 {
        Ok(raw)
    } else {
        Err(Status::invalid_argument(format!(
            "id: {raw} is not an album id"
        )))
    }
}

#[tonic::async_trait]
impl<S: AlbumStore> AlbumService for AlbumGrpc<S> {
    async fn create_album(
        &self,
        request: Request<pb::CreateAlbumRequest>,
    ) -> Result<Response<pb::Album>, Status> {
        let r = request.into_inner();
        let album = NewAlbum {
            title: r.title,
            artist: r.artist,
            price: price(&r.price)?,
        }
        .validated()?;
        // gRPC carries no idempotency key, and without a claim a create is only ever `Done`.
        match self.store.create(album, None).await? {
            Answer::Done(album) => Ok(Response::new(to_pb(album))),
            Answer::Replay(_) | Answer::Reused => Err(Status::internal("replay without a key")),
        }
    }

    async fn get_album(
        &self,
        request: Request<pb::GetAlbumRequest>,
    ) -> Result<Response<pb::Album>, Status> {
        let id = id(request.into_inner().id)?;
        Ok(Response::new(to_pb(self.store.get(id).await?)))
    }

    async fn list_albums(
        &self,
        request: Request<pb::ListAlbumsRequest>,
    ) -> Result<Response<pb::ListAlbumsResponse>, Status> {
        let r = request.into_inner();
        let query = ListQuery::checked(r.artist.as_deref(), r.after, r.limit, &self.pagination)?;
        let page = self.store.list(query).await?;
        Ok(Response::new(pb::ListAlbumsResponse {
            items: page.items.into_iter().map(to_pb).collect(),
            next: page.next,
        }))
    }

    async fn update_album(
        &self,
        request: Request<pb::UpdateAlbumRequest>,
    ) -> Result<Response<pb::Album>, Status> {
        let r = request.into_inner();
        let changes = AlbumChanges {
            title: r.title,
            artist: r.artist,
            price: r.price.as_deref().map(price).transpose()?,
        }
        .validated()?;
        Ok(Response::new(to_pb(
            self.store.update(id(r.id)?, changes, None).await?,
        )))
    }

    async fn delete_album(
        &self,
        request: Request<pb::DeleteAlbumRequest>,
    ) -> Result<Response<pb::DeleteAlbumResponse>, Status> {
        self.store
            .delete(id(request.into_inner().id)?, None)
            .await?;
        Ok(Response::new(pb::DeleteAlbumResponse {}))
    }
}

/// The gRPC routes: the album service, health (`SERVING` for it and for the server as a whole
/// until [`GrpcHealth::draining`]) and reflection.
pub async fn routes<S: AlbumStore>(
    store: S,
    pagination: Pagination,
) -> Result<(tonic::service::Routes, GrpcHealth), tonic_reflection::server::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<AlbumServiceServer<AlbumGrpc<S>>>()
        .await;
    // v1 and v1alpha: grpcurl before 1.9 (also the PyPI wrapper's 1.8) asks v1alpha only.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::DESCRIPTORS)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let routes = tonic::service::Routes::new(health)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(AlbumServiceServer::new(AlbumGrpc { store, pagination }));
    Ok((routes, GrpcHealth { reporter }))
}

/// Turns the health service's answer to `NOT_SERVING` when the service drains.
#[derive(Debug, Clone)]
pub struct GrpcHealth {
    reporter: tonic_health::server::HealthReporter,
}

impl GrpcHealth {
    /// Health checks answer `NOT_SERVING` from now on (SIGTERM: let balancers move away).
    pub async fn draining(&self) {
        self.reporter
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        self.reporter
            .set_service_status(
                pb::album_service_server::SERVICE_NAME,
                tonic_health::ServingStatus::NotServing,
            )
            .await;
    }
}

/// Serves `routes` on `listener` and drains like the HTTP server: when `shutdown` resolves,
/// health answers `NOT_SERVING` at once while calls are still served for `drain_delay`
/// (`server.drain_delay_seconds`), so balancers move away before anything is refused; then
/// the server stops accepting and in-flight calls finish before this returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    routes: tonic::service::Routes,
    health: GrpcHealth,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    drain_delay: std::time::Duration,
) -> Result<(), tonic::transport::Error> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tonic::transport::Server::builder()
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            health.draining().await;
            tracing::info!(
                ?drain_delay,
                "gRPC: NOT_SERVING, still serving until the delay ends"
            );
            tokio::time::sleep(drain_delay).await;
            tracing::info!("gRPC: draining in-flight calls");
        })
        .await
}
