#!/usr/bin/env node
// usage: node scripts/conformance-istio-npm.mjs FILE...
//
// A second, independent check of the Istio kinds: every document of the given
// multi-document YAML files whose apiVersion and kind @kubernetes-models/istio knows is
// validated by that package's precompiled ajv validator. Other kinds are skipped and
// listed. Prints
//   conformance-istio-npm: N documents checked, N failed
// and exits 1 on any failure, 2 when a file cannot be read or parsed or the tools are
// missing (run scripts/install-tools.sh first).
//
// Limits, as of @kubernetes-models/istio 3.0.1: its schemas come from Istio 1.29.2's
// crd-all.gen.yaml (IstioOperator: 1.18.0, no field schema). It checks types, enums,
// required fields, oneOf/not, bounds and formats, but it does NOT reject unknown fields
// (its schemas carry no additionalProperties), and CEL rules are not evaluated.
// Documents are read as YAML 1.1, as Kubernetes reads them.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tools = process.env.MESHGEN_TOOLS_DIR ?? join(root, ".tools");

async function loadTools() {
  try {
    const YAML = createRequire(join(tools, "package.json"))("yaml");
    const index = join(tools, "node_modules/@kubernetes-models/istio/index.js");
    const istio = await import(pathToFileURL(index).href);
    return { YAML, istio };
  } catch (error) {
    console.error(`conformance-istio-npm: cannot load tools from ${tools}: run scripts/install-tools.sh (${error.message})`);
    process.exit(2);
  }
}

// "apiVersion kind" -> model class, from the package's group/version/kind tree.
function modelsByType(istio) {
  const models = new Map();
  for (const group of Object.values(istio)) {
    for (const version of Object.values(group)) {
      for (const model of Object.values(version)) {
        if (model?.apiVersion && model?.kind) models.set(`${model.apiVersion} ${model.kind}`, model);
      }
    }
  }
  return models;
}

const paths = process.argv.slice(2);
if (paths.length === 0) {
  console.error("usage: node scripts/conformance-istio-npm.mjs FILE...");
  process.exit(2);
}
const { YAML, istio } = await loadTools();
const models = modelsByType(istio);
let checked = 0;
let failed = 0;
let brokenFiles = 0;
const skipped = new Map();

for (const path of paths) {
  let docs;
  try {
    docs = YAML.parseAllDocuments(readFileSync(path, "utf8"), { version: "1.1" });
    const errors = docs.flatMap((doc) => doc.errors ?? []);
    if (errors.length > 0 || !Array.isArray(docs)) throw errors[0] ?? new Error("not a YAML stream");
  } catch (error) {
    console.error(`conformance-istio-npm: ${path}: cannot be read as YAML: ${error.message}`);
    brokenFiles++;
    continue;
  }
  const values = docs.map((doc) => doc.toJS()).filter((value) => value != null);
  values.forEach((value, i) => {
    const type = `${value?.apiVersion} ${value?.kind}`;
    const Model = models.get(type);
    if (!Model) {
      skipped.set(type, (skipped.get(type) ?? 0) + 1);
      return;
    }
    checked++;
    try {
      new Model(value).validate();
    } catch (error) {
      failed++;
      const where = `document ${i + 1} (${value.kind}/${value.metadata?.name ?? "?"})`;
      for (const e of error.errors ?? [{ instancePath: "", message: error.message }]) {
        console.log(`FAIL ${path}: ${where}: ${e.instancePath || "/"}: ${e.message}`);
      }
    }
  });
}
if (skipped.size > 0) {
  const kinds = [...skipped].sort().map(([type, count]) => `${type} (${count})`);
  const total = [...skipped.values()].reduce((sum, count) => sum + count, 0);
  console.log(`conformance-istio-npm: skipped ${total} documents of kinds it does not know: ${kinds.join(", ")}`);
}
console.log(`conformance-istio-npm: ${checked} documents checked, ${failed} failed`);
process.exit(brokenFiles > 0 ? 2 : failed > 0 ? 1 : 0);
