#!/usr/bin/env node
// usage: node scripts/conformance-gitops-npm.mjs FILE...
//
// The GitOps manifests of `mesh.install = "helm"` (install/argocd/applications.yaml,
// install/flux/helm-releases.yaml) against the Argo CD and Flux API schemas of the npm
// packages @kubernetes-models/argo-cd and @kubernetes-models/flux-cd. Every document of
// the given multi-document YAML files whose apiVersion is Argo CD's (argoproj.io/…) or
// Flux's (*.toolkit.fluxcd.io/…) is checked:
//   - a kind the packages do not know at that apiVersion is a failure (a typo in
//     apiVersion or kind must not pass as "not ours"), and so is any other document
//     in an install/argocd/ or install/flux/ folder;
//   - the package's own validator, `new Model(doc).validate()` (precompiled ajv);
//   - unknown fields are failures (strict, like `kubectl apply --validate=strict`), see
//     below.
// Other documents are skipped and counted. Prints one line per failure, then
//   conformance-gitops: N documents checked, N failed
// and exits 1 on any failure, 2 when a file cannot be read or parsed or the tools are
// missing (run scripts/install-tools.sh first).
//
// What the packages check, as of @kubernetes-models/argo-cd 4.0.0 and flux-cd 4.0.0:
// their schemas are generated from the Go API types (argo-cd/v3 pkg/apis/application/
// v1alpha1; Flux source-controller api/v1, helm-controller api/v2, …), not from the
// CRD YAML. They check types, required fields, the kubebuilder enums, bounds and
// patterns the generator carried over (HelmRelease releaseName <= 53 characters,
// sourceRef.kind in HelmRepository/GitRepository/Bucket, HelmRepository url
// ^(http|https|oci)://, …) and ObjectMeta. They do NOT check CEL rules
// (x-kubernetes-validations), duration formats (interval is only a string), nor
// anything inside the free-form fields (Argo CD helm.valuesObject, Flux values: the
// charts' values are not checked here), and they do NOT reject unknown fields (no
// additionalProperties anywhere in their schemas).
//
// Unknown fields are therefore checked here: the validator runs a second time on a copy
// of the document in which every object records which keys the validator reads. The
// compiled validator reads every property its schema declares (`data.foo`, present or
// not) and every key of a map (`for … in`), so in an object it read anything from, a
// key it never read is a field the schema does not have. An object it read nothing from
// is free-form (valuesObject, values) or not an object in the schema (then the type
// error is reported already). A canary at start-up proves this still holds for the
// installed versions (exit 2 if not). Documents are read as YAML 1.1, as Kubernetes
// reads them.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tools = process.env.MESHGEN_TOOLS_DIR ?? join(root, ".tools");
const packages = ["@kubernetes-models/argo-cd", "@kubernetes-models/flux-cd"];

async function loadTools() {
  try {
    const YAML = createRequire(join(tools, "package.json"))("yaml");
    const trees = [];
    for (const name of packages) {
      const index = join(tools, "node_modules", name, "index.js");
      trees.push(await import(pathToFileURL(index).href));
    }
    return { YAML, trees };
  } catch (error) {
    console.error(`conformance-gitops: cannot load tools from ${tools}: run scripts/install-tools.sh (${error.message})`);
    process.exit(2);
  }
}

// "apiVersion kind" -> model class, from the packages' group/version/kind trees.
function modelsByType(trees) {
  const models = new Map();
  for (const tree of trees) {
    for (const group of Object.values(tree)) {
      for (const version of Object.values(group)) {
        for (const model of Object.values(version)) {
          if (model?.apiVersion && model?.kind) models.set(`${model.apiVersion} ${model.kind}`, model);
        }
      }
    }
  }
  return models;
}

// Whether an apiVersion belongs to Argo CD or Flux, so its documents must be known.
function isGitOpsApi(apiVersion) {
  const group = typeof apiVersion === "string" ? apiVersion.split("/")[0] : "";
  return group === "argoproj.io" || group.endsWith(".toolkit.fluxcd.io");
}

// A deep copy of value in which every object and array is a Proxy recording the keys
// read from it; records collects [path, object, reads] per object.
function tracked(value, path, records) {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    return value.map((item, i) => tracked(item, `${path}/${i}`, records));
  }
  const copy = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] = tracked(item, `${path}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`, records);
  }
  const reads = new Set();
  records.push([path, copy, reads]);
  return new Proxy(copy, {
    get(target, key, receiver) {
      if (typeof key === "string") reads.add(key);
      return Reflect.get(target, key, receiver);
    },
  });
}

// The JSON pointers of the fields of value that Model's schema does not have.
function unknownFields(Model, value) {
  const records = [];
  const copy = tracked(value, "", records);
  try {
    Model.prototype.validate.call(copy);
  } catch {
    // schema errors are reported by the first pass
  }
  const unknown = [];
  for (const [path, object, reads] of records) {
    if (reads.size === 0) continue;
    for (const key of Object.keys(object)) {
      if (!reads.has(key)) unknown.push(`${path}/${key}`);
    }
  }
  return unknown;
}

// Every failure of one document, as "pointer: message".
function failures(Model, value) {
  const found = [];
  try {
    new Model(value).validate();
  } catch (error) {
    for (const e of error.errors ?? [{ instancePath: "", message: error.message }]) {
      found.push(`${e.instancePath || "/"}: ${e.message}`);
    }
  }
  for (const pointer of unknownFields(Model, value)) found.push(`${pointer}: unknown field`);
  return found;
}

// The canary: the unknown-field check must flag typos at several depths and must not
// flag the keys of free-form values. Exit 2 when the installed packages break it.
function canary(models) {
  const Application = models.get("argoproj.io/v1alpha1 Application");
  const HelmRelease = models.get("helm.toolkit.fluxcd.io/v2 HelmRelease");
  const HelmRepository = models.get("source.toolkit.fluxcd.io/v1 HelmRepository");
  const problems = [];
  if (!Application || !HelmRelease || !HelmRepository) {
    problems.push("the packages lack Application, HelmRelease v2 or HelmRepository v1");
  } else {
    const application = {
      apiVersion: "argoproj.io/v1alpha1",
      kind: "Application",
      metadata: { name: "a", namespace: "argocd", annotations: { "argocd.argoproj.io/sync-wave": "1" } },
      spec: {
        project: "default",
        source: {
          repoURL: "https://charts.example.com",
          chart: "c",
          targetRevision: "1.0.0",
          helm: { releaseName: "a", valuesObject: { free: { form: [{ keys: 1 }] } } },
        },
        destination: { server: "https://kubernetes.default.svc", namespace: "ns" },
        ignoreDifferences: [{ group: "g", kind: "K", jqPathExpressions: [".x"] }],
      },
    };
    const good = failures(Application, application);
    if (good.length > 0) problems.push(`a valid Application fails: ${good.join("; ")}`);
    const bad = structuredClone(application);
    bad.spek = {};
    bad.metadata.lables = {};
    bad.spec.source.helm.valuesObjekt = {};
    bad.spec.ignoreDifferences[0].jqPathExpression = [];
    const expected = ["/spek", "/metadata/lables", "/spec/source/helm/valuesObjekt", "/spec/ignoreDifferences/0/jqPathExpression"];
    const got = unknownFields(Application, bad);
    if (expected.some((pointer) => !got.includes(pointer)) || got.length !== expected.length) {
      problems.push(`unknown fields of an Application: expected ${expected.join(", ")}, got ${got.join(", ") || "none"}`);
    }
    const release = {
      apiVersion: "helm.toolkit.fluxcd.io/v2",
      kind: "HelmRelease",
      metadata: { name: "r", namespace: "flux-system" },
      spec: {
        interval: "10m",
        chart: { spec: { chart: "c", version: "1.0.0", sourceRef: { kind: "HelmRepository", name: "r" }, verison: "x" } },
        values: { free: { form: 1 } },
      },
    };
    const gotRelease = unknownFields(HelmRelease, release);
    if (gotRelease.join() !== "/spec/chart/spec/verison") {
      problems.push(`unknown fields of a HelmRelease: expected /spec/chart/spec/verison, got ${gotRelease.join(", ") || "none"}`);
    }
  }
  if (problems.length > 0) {
    for (const problem of problems) console.error(`conformance-gitops: canary: ${problem}`);
    console.error("conformance-gitops: the strict check does not work with the installed packages");
    process.exit(2);
  }
}

const paths = process.argv.slice(2);
if (paths.length === 0) {
  console.error("usage: node scripts/conformance-gitops-npm.mjs FILE...");
  process.exit(2);
}
const { YAML, trees } = await loadTools();
const models = modelsByType(trees);
canary(models);
let checked = 0;
let failed = 0;
let skipped = 0;
let brokenFiles = 0;

for (const path of paths) {
  let docs;
  try {
    docs = YAML.parseAllDocuments(readFileSync(path, "utf8"), { version: "1.1" });
    const errors = docs.flatMap((doc) => doc.errors ?? []);
    if (errors.length > 0 || !Array.isArray(docs)) throw errors[0] ?? new Error("not a YAML stream");
  } catch (error) {
    console.error(`conformance-gitops: ${path}: cannot be read as YAML: ${error.message}`);
    brokenFiles++;
    continue;
  }
  const values = docs.map((doc) => doc.toJS()).filter((value) => value != null);
  // meshgen writes only Argo CD and Flux documents there: anything else is a mistake
  // (a misspelt group) that must not pass as "not ours".
  const inGitOpsFolder = /(^|\/)install\/(argocd|flux)\//.test(path);
  values.forEach((value, i) => {
    const gitops = isGitOpsApi(value?.apiVersion);
    if (!gitops && !inGitOpsFolder) {
      skipped++;
      return;
    }
    checked++;
    const where = `document ${i + 1} (${value?.kind}/${value?.metadata?.name ?? "?"})`;
    const Model = models.get(`${value?.apiVersion} ${value?.kind}`);
    const found = !gitops
      ? [`/: ${value?.apiVersion} ${value?.kind} in an argocd/ or flux/ folder is not an Argo CD or Flux kind`]
      : Model
        ? failures(Model, value)
        : [`/: ${value.apiVersion} ${value.kind} is not a kind @kubernetes-models/argo-cd or flux-cd knows`];
    if (found.length > 0) {
      failed++;
      for (const failure of found) console.log(`FAIL ${path}: ${where}: ${failure}`);
    }
  });
}
console.log(`conformance-gitops: skipped ${skipped} documents that are not Argo CD or Flux kinds`);
console.log(`conformance-gitops: ${checked} documents checked, ${failed} failed`);
process.exit(brokenFiles > 0 ? 2 : failed > 0 ? 1 : 0);
