//! What `release.configSchema` costs per reconcile: the operator checks an `AppService`'s config
//! against its schema every time it plans (compiling the schema, then validating), beside
//! rendering the config file it does anyway. Measured side by side in one run on
//! `examples/app-service.yaml`:
//!
//! ```text
//! cargo run --release -p lockstep-crd --example schema_cost
//! ```

use std::hint::black_box;
use std::time::Instant;

use lockstep_crd::AppService;

const ROUNDS: u32 = 20_000;

fn per_call(mut f: impl FnMut()) -> f64 {
    for _ in 0..ROUNDS / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..ROUNDS {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/app-service.yaml"
    );
    let svc: AppService = serde_yaml::from_str(&std::fs::read_to_string(path)?)?;
    let release = &svc.spec.release;
    let schema = release
        .config_schema
        .clone()
        .ok_or("the example has a schema")?;
    let render = per_call(|| {
        black_box(release.render().ok());
    });
    let compile_and_validate = per_call(|| {
        let v = jsonschema::draft202012::new(black_box(&schema)).ok();
        black_box(v.map(|v| v.is_valid(&release.config)));
    });
    let validator = jsonschema::draft202012::new(&schema)?;
    let validate = per_call(|| {
        black_box(validator.is_valid(black_box(&release.config)));
    });
    let check = per_call(|| {
        black_box(svc.spec.check().ok());
    });
    println!("per call, {ROUNDS} rounds each:");
    println!("  render the TOML file        {render:8.2} µs");
    println!(
        "  compile schema + validate   {compile_and_validate:8.2} µs  ({:.1}x render)",
        compile_and_validate / render
    );
    println!(
        "  validate (compiled schema)  {validate:8.2} µs  ({:.2}x render)",
        validate / render
    );
    println!(
        "  AppServiceSpec::check()     {check:8.2} µs  ({:.1}x render)",
        check / render
    );
    Ok(())
}
