//! Fuzz target: any bytes through the whole pipeline, parse → schema → validate
//! → render → bundle → output files, as `meshgen build` runs it. Nothing may
//! panic, and a scenario that validates must render (a render failure of a
//! valid scenario with the shipped templates is a meshgen bug).

#![no_main]

use libfuzzer_sys::fuzz_target;
use meshgen::render::Renderer;
use meshgen::source::Source;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let source = Source::new("fuzz.toml", text.as_ref());
    let checked = meshgen::scenario::check(&source);
    for diagnostic in &checked.diagnostics {
        let _ = diagnostic.render(&source, false);
        let _ = diagnostic.to_json(&source);
    }
    let Some(scenario) = checked.scenario else {
        return;
    };
    let renderer = match Renderer::new(None) {
        Ok(renderer) => renderer,
        Err(e) => panic!("the shipped templates do not load: {e}"),
    };
    match meshgen::bundle::bundle(&renderer, &scenario) {
        Ok(build) => {
            if let Err(e) = meshgen::layout::files(&build, &scenario, &renderer) {
                panic!("a valid scenario failed to lay out: {e}\n{text}");
            }
            for k in 0..build.steps.len() {
                let _ = build.apply_stream(Some(k));
            }
        }
        Err(e) => panic!("a valid scenario failed to render: {e}\n{text}"),
    }
});
