use epilog_dispatcher::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let _telemetry = loopdesk_telemetry::init("epilog-dispatcher", &settings.telemetry);
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), "epilog-dispatcher listening");
    let stop = app.shutdown_token();
    tokio::spawn(async move {
        loopdesk_telemetry::shutdown_signal().await;
        stop.cancel();
    });
    app.run_until_stopped().await
}
