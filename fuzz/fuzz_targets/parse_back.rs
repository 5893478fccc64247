//! Fuzz target: any text through the parse-back check of a rendered document
//! (`Resource::parse`, as `--templates` overrides can make any text). It must
//! answer yes or no without panicking, and yes only for a document that
//! serde-saphyr also reads as one mapping with that identity. Fuzz builds keep
//! debug assertions, under which `Resource::parse` also reads every document
//! its fast lane (`resource::subset`) accepts with the full YAML parser and
//! panics if the two disagree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use meshgen::resource::{Resource, ResourceId};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let id = ResourceId::namespaced("v1", "ConfigMap", "ns", "a");
    if let Ok(resource) = Resource::parse(id, text, &[("wave", "1")]) {
        let value = resource.value();
        assert_eq!(value["apiVersion"], "v1", "accepted: {:?}", resource.text());
        assert_eq!(
            value["kind"],
            "ConfigMap",
            "accepted: {:?}",
            resource.text()
        );
        assert_eq!(
            value["metadata"]["name"],
            "a",
            "accepted: {:?}",
            resource.text()
        );
        assert_eq!(
            value["metadata"]["namespace"],
            "ns",
            "accepted: {:?}",
            resource.text()
        );
        assert_eq!(
            value["metadata"]["annotations"]["wave"],
            "1",
            "accepted: {:?}",
            resource.text()
        );
    }
});
