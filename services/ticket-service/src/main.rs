use loopdesk_runtime::StopSignal;
use ticket_service::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // First: a SIGTERM during start-up then ends the start, not the process.
    let mut stop = StopSignal::install()?;
    let settings = Settings::load()?;
    let _telemetry = loopdesk_telemetry::init("ticket-service", &settings.telemetry);
    let Some(app) = stop.unless_received(Application::build(settings)).await else {
        return Ok(());
    };
    let app = app?;
    tracing::info!(port = app.port(), "ticket-service listening");
    stop.cancel_on_signal(app.shutdown_token());
    app.run_until_stopped().await
}
