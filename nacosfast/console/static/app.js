// The nacosfast console: plain JavaScript, no libraries, nothing loaded from anywhere but this server.
// Every figure comes from the ordinary Nacos endpoints under /nacos/v1/, so whatever guards them
// guards the console too. Pages are addressed by the location hash: #/services?namespace=...
"use strict";

const API = "/nacos/v1";
const PAGE_SIZE = 100;
const INSTANCE_PAGE_SIZE = 500;
const DEFAULT_GROUP = "DEFAULT_GROUP";

// --- small helpers -------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) search.set(key, String(value));
  }
  return search.toString();
}

async function request(method, path, params) {
  const init = { method, headers: { Accept: "application/json" } };
  let url = API + path;
  if (method === "GET") {
    url += "?" + query(params || {});
  } else {
    init.headers["Content-Type"] = "application/x-www-form-urlencoded";
    init.body = query(params || {});
  }
  const response = await fetch(url, init);
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`${method} ${path}: ${response.status} ${text.trim() || response.statusText}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    return text;
  }
}

function tag(text, kind) {
  return el("span", { class: `tag ${kind}` }, text);
}

function healthTag(healthy) {
  return healthy ? tag("healthy", "good") : tag("unhealthy", "bad");
}

function metadataView(metadata) {
  const entries = Object.entries(metadata || {});
  if (!entries.length) return el("span", { class: "muted" }, "—");
  return el("div", { class: "meta" }, entries.map(([key, value]) => el("span", { class: "mono" }, `${key}=${value}`)));
}

function table(headers, rows, attrs) {
  return el(
    "table",
    attrs,
    el("thead", {}, el("tr", {}, headers.map((header) => el("th", { class: header.num ? "num" : null }, header.label || header)))),
    el("tbody", {}, rows),
  );
}

function formatTime(ms) {
  if (!ms) return "—";
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function route() {
  const hash = location.hash.replace(/^#/, "") || "/services";
  const [path, search] = hash.split("?");
  return { page: path.replace(/^\//, "") || "services", params: new URLSearchParams(search || "") };
}

function link(page, params) {
  return `#/${page}?${query(params)}`;
}

const state = { namespace: "" };

function show(title, ...content) {
  const main = document.getElementById("page");
  main.replaceChildren(el("h1", {}, title), ...content.flat().filter((part) => part !== null && part !== undefined));
  document.title = `${title} · nacosfast`;
}

function showError(title, error) {
  show(title, el("p", { class: "error", role: "alert" }, error.message));
}

// --- pages ---------------------------------------------------------------------------------------

async function servicesPage(params) {
  const pageNo = Math.max(1, Number(params.get("page") || 1));
  const filter = params.get("q") || "";
  const group = params.get("group") || "";
  const answer = await request("GET", "/ns/catalog/services", {
    withInstances: false,
    pageNo,
    pageSize: PAGE_SIZE,
    serviceNameParam: filter,
    groupNameParam: group,
    namespaceId: state.namespace,
  });
  const rows = answer.serviceList.map((service) => {
    const target = link("service", { namespace: state.namespace, group: service.groupName, name: service.name });
    const unhealthy = service.ipCount - service.healthyInstanceCount;
    return el(
      "tr",
      { "data-service": `${service.groupName}@@${service.name}` },
      el("td", {}, el("a", { href: target }, service.name)),
      el("td", {}, service.groupName),
      el("td", { class: "num" }, service.clusterCount),
      el("td", { class: "num" }, service.ipCount),
      el("td", { class: "num" }, service.healthyInstanceCount),
      el("td", {}, unhealthy > 0 ? tag(`${unhealthy} unhealthy`, "bad") : service.ipCount ? tag("all healthy", "good") : tag("empty", "off")),
      el("td", {}, service.triggerFlag === "true" ? tag("protection on", "warn") : ""),
      el("td", {}, el("a", { href: link("subscribers", { namespace: state.namespace, group: service.groupName, name: service.name }) }, "subscribers")),
    );
  });
  const search = el("input", { type: "text", name: "q", value: filter, placeholder: "service name contains", "aria-label": "service name filter" });
  const groupInput = el("input", { type: "text", name: "group", value: group, placeholder: "group contains", "aria-label": "group filter" });
  const form = el(
    "form",
    {
      class: "toolbar",
      onsubmit: (event) => {
        event.preventDefault();
        location.hash = link("services", { namespace: state.namespace, q: search.value, group: groupInput.value });
      },
    },
    search,
    groupInput,
    el("button", { type: "submit" }, "Search"),
  );
  const first = answer.count ? (pageNo - 1) * PAGE_SIZE + 1 : 0;
  const last = Math.min(answer.count, pageNo * PAGE_SIZE);
  const pager = el(
    "div",
    { class: "toolbar" },
    el("span", { class: "muted" }, `${first}–${last} of ${answer.count} services`),
    pageNo > 1 ? el("a", { href: link("services", { namespace: state.namespace, q: filter, group, page: pageNo - 1 }) }, "← previous") : null,
    last < answer.count ? el("a", { href: link("services", { namespace: state.namespace, q: filter, group, page: pageNo + 1 }) }, "next →") : null,
  );
  show(
    "Services",
    form,
    table(
      ["Service", "Group", { label: "Clusters", num: true }, { label: "Instances", num: true }, { label: "Healthy", num: true }, "Health", "Protection", ""],
      rows.length ? rows : [el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No services in this namespace."))],
      { id: "services" },
    ),
    pager,
  );
}

function instanceRow(service, instance, onSaved) {
  const row = el(
    "tr",
    { "data-instance": `${instance.ip}:${instance.port}`, "data-cluster": instance.clusterName },
    el("td", { class: "mono" }, `${instance.ip}:${instance.port}`),
    el("td", {}, instance.ephemeral ? "ephemeral" : "persistent"),
    el("td", {}, healthTag(instance.healthy)),
    el("td", { class: "num", "data-field": "weight" }, instance.weight),
    el("td", { "data-field": "enabled" }, instance.enabled ? tag("enabled", "good") : tag("disabled", "off")),
    el("td", {}, metadataView(instance.metadata)),
    el("td", { class: "muted" }, instance.ephemeral ? formatTime(instance.lastBeat) : "—"),
    el("td", {}, el("button", { class: "secondary", type: "button", "data-action": "edit", onclick: () => row.replaceWith(editRow(service, instance, onSaved)) }, "Edit")),
  );
  return row;
}

function editRow(service, instance, onSaved) {
  const weight = el("input", { type: "number", name: "weight", min: 0, max: 10000, step: "any", value: instance.weight });
  const enabled = el("input", { type: "checkbox", name: "enabled", checked: instance.enabled });
  const metadata = el("textarea", { name: "metadata", "aria-label": "metadata (JSON)" }, JSON.stringify(instance.metadata || {}, null, 1));
  const message = el("div");
  const form = el(
    "form",
    {
      class: "edit-form",
      onsubmit: async (event) => {
        event.preventDefault();
        let parsed;
        try {
          parsed = JSON.parse(metadata.value || "{}");
        } catch (error) {
          message.replaceChildren(el("p", { class: "error", role: "alert" }, `metadata is not JSON: ${error.message}`));
          return;
        }
        try {
          await request("PUT", "/ns/instance", {
            namespaceId: state.namespace,
            serviceName: `${service.group}@@${service.name}`,
            groupName: service.group,
            clusterName: instance.clusterName,
            ip: instance.ip,
            port: instance.port,
            ephemeral: instance.ephemeral,
            weight: weight.value,
            enabled: enabled.checked,
            metadata: JSON.stringify(parsed),
          });
          onSaved(`Saved ${instance.ip}:${instance.port}.`);
        } catch (error) {
          message.replaceChildren(el("p", { class: "error", role: "alert" }, error.message));
        }
      },
    },
    el("label", { for: "edit-weight" }, "Weight"),
    Object.assign(weight, { id: "edit-weight" }),
    el("label", { for: "edit-enabled" }, "Enabled"),
    Object.assign(enabled, { id: "edit-enabled" }),
    el("label", { for: "edit-metadata" }, "Metadata (JSON)"),
    Object.assign(metadata, { id: "edit-metadata" }),
    el("span"),
    el("div", { class: "toolbar" }, el("button", { type: "submit", "data-action": "save" }, "Save"), el("button", { type: "button", class: "secondary", onclick: () => onSaved("") }, "Cancel")),
  );
  return el("tr", { class: "editing", "data-instance": `${instance.ip}:${instance.port}` }, el("td", { colspan: 8 }, el("strong", {}, `${instance.ip}:${instance.port}`), form, message));
}

async function servicePage(params, notice) {
  const service = { group: params.get("group") || DEFAULT_GROUP, name: params.get("name") || "" };
  const title = `Service ${service.name}`;
  const detail = await request("GET", "/ns/catalog/service", { serviceName: service.name, groupName: service.group, namespaceId: state.namespace });
  const reload = (message) => servicePage(params, message).catch((error) => showError(title, error));
  const sections = [];
  for (const cluster of detail.clusters) {
    const instances = await request("GET", "/ns/catalog/instances", {
      serviceName: service.name,
      groupName: service.group,
      clusterName: cluster.name,
      pageNo: 1,
      pageSize: INSTANCE_PAGE_SIZE,
      namespaceId: state.namespace,
    });
    const rows = instances.list.map((instance) => instanceRow(service, instance, reload));
    const checker = cluster.healthChecker ? cluster.healthChecker.type : "NONE";
    sections.push(
      el("h2", {}, `Cluster ${cluster.name}`, " ", el("span", { class: "muted" }, `${instances.count} instances · health check ${checker} · check port ${cluster.defaultCheckPort}`)),
      table(
        ["Address", "Kind", "Health", { label: "Weight", num: true }, "Enabled", "Metadata", "Last beat", ""],
        rows.length ? rows : [el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No instances."))],
        { class: "instances", "data-cluster": cluster.name },
      ),
    );
  }
  const info = detail.service;
  show(
    title,
    notice ? el("p", { class: "notice", role: "status" }, notice) : null,
    el(
      "dl",
      { class: "kv" },
      el("dt", {}, "Group"),
      el("dd", {}, info.groupName),
      el("dt", {}, "Namespace"),
      el("dd", {}, state.namespace || "public"),
      el("dt", {}, "Protect threshold"),
      el("dd", {}, info.protectThreshold),
      el("dt", {}, "Metadata"),
      el("dd", {}, metadataView(info.metadata)),
      el("dt", {}, "Selector"),
      el("dd", { class: "mono" }, JSON.stringify(info.selector)),
      el("dt", {}, "Subscribers"),
      el("dd", {}, el("a", { href: link("subscribers", { namespace: state.namespace, group: service.group, name: service.name }) }, "show subscribers")),
    ),
    sections.length ? sections : el("p", { class: "muted" }, "This service has no clusters."),
  );
}

async function subscribersPage(params) {
  const group = params.get("group") || DEFAULT_GROUP;
  const name = params.get("name") || "";
  const nameInput = el("input", { type: "text", name: "service", value: name, placeholder: "service name", "aria-label": "service name" });
  const groupInput = el("input", { type: "text", name: "group", value: group, placeholder: "group", "aria-label": "group" });
  const form = el(
    "form",
    {
      class: "toolbar",
      onsubmit: (event) => {
        event.preventDefault();
        location.hash = link("subscribers", { namespace: state.namespace, group: groupInput.value, name: nameInput.value });
      },
    },
    nameInput,
    groupInput,
    el("button", { type: "submit" }, "Show"),
  );
  if (!name) {
    show("Subscribers", form, el("p", { class: "muted" }, "Name a service to see the clients subscribed to it (UDP push)."));
    return;
  }
  const answer = await request("GET", "/ns/service/subscribers", {
    serviceName: name,
    groupName: group,
    namespaceId: state.namespace,
    pageNo: 1,
    pageSize: PAGE_SIZE,
  });
  const rows = answer.subscribers.map((subscriber) =>
    el("tr", {}, el("td", { class: "mono" }, subscriber.addrStr), el("td", {}, subscriber.agent), el("td", {}, subscriber.app), el("td", {}, subscriber.serviceName)),
  );
  show(
    "Subscribers",
    form,
    el("p", { class: "muted" }, `${answer.count} subscribers of services matching ${group}@@${name}`),
    table(["Address", "Client", "App", "Service"], rows.length ? rows : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No subscribers."))], { id: "subscribers" }),
  );
}

async function namespacesPage() {
  const answer = await request("GET", "/console/namespaces", {});
  const rows = answer.data.map((namespace) =>
    el(
      "tr",
      {},
      el("td", {}, el("a", { href: link("services", { namespace: namespace.namespace }) }, namespace.namespaceShowName)),
      el("td", { class: "mono" }, namespace.namespace || "(public)"),
      el("td", {}, namespace.type === 0 ? "public" : "custom"),
      el("td", { class: "num" }, namespace.quota),
    ),
  );
  show("Namespaces", table(["Name", "ID", "Type", { label: "Quota", num: true }], rows, { id: "namespaces" }));
}

async function membersPage() {
  const answer = await request("GET", "/core/cluster/nodes", {});
  const rows = answer.data.map((member) =>
    el(
      "tr",
      {},
      el("td", { class: "mono" }, member.address),
      el("td", {}, member.state === "UP" ? tag(member.state, "good") : tag(member.state, "bad")),
      el("td", {}, (member.extendInfo || {}).version || "—"),
      el("td", {}, formatTime((member.extendInfo || {}).lastRefreshTime)),
      el("td", { class: "num" }, member.failAccessCnt),
    ),
  );
  show("Cluster members", table(["Address", "State", "Version", "Last refresh", { label: "Failed calls", num: true }], rows, { id: "members" }));
}

async function switchesPage() {
  const switches = await request("GET", "/ns/operator/switches", {});
  const rows = Object.keys(switches)
    .sort()
    .map((key) => {
      const value = switches[key];
      const shown = value !== null && typeof value === "object" ? JSON.stringify(value) : String(value);
      const cell = typeof value === "boolean" ? tag(shown, value ? "good" : "off") : el("span", { class: "mono" }, shown);
      return el("tr", { "data-switch": key }, el("td", {}, key), el("td", {}, cell));
    });
  show(
    "Switches",
    el("p", { class: "muted" }, "Change one with PUT /nacos/v1/ns/operator/switches?entry=NAME&value=VALUE."),
    table(["Switch", "Value"], rows, { id: "switches" }),
  );
}

const PAGES = {
  services: ["Services", servicesPage],
  service: ["Service", servicePage],
  subscribers: ["Subscribers", subscribersPage],
  namespaces: ["Namespaces", namespacesPage],
  members: ["Cluster members", membersPage],
  switches: ["Switches", switchesPage],
};

async function render() {
  const { page, params } = route();
  const [title, draw] = PAGES[page] || PAGES.services;
  if (params.has("namespace")) state.namespace = params.get("namespace");
  document.getElementById("namespace").value = state.namespace;
  for (const anchor of document.querySelectorAll("header nav a")) {
    anchor.classList.toggle("active", anchor.dataset.page === page || (page === "service" && anchor.dataset.page === "services"));
  }
  try {
    await draw(params);
  } catch (error) {
    showError(title, error);
  }
  document.body.dataset.ready = page;
}

async function loadNamespaces() {
  const select = document.getElementById("namespace");
  let namespaces = [{ namespace: "", namespaceShowName: "public" }];
  try {
    namespaces = (await request("GET", "/console/namespaces", {})).data;
  } catch (error) {
    // the page itself shows the error when it cannot reach the server
  }
  select.replaceChildren(...namespaces.map((namespace) => el("option", { value: namespace.namespace }, namespace.namespaceShowName)));
  select.addEventListener("change", () => {
    state.namespace = select.value;
    location.hash = link("services", { namespace: select.value });
  });
}

window.addEventListener("hashchange", () => {
  document.body.dataset.ready = "";
  render();
});
document.addEventListener("DOMContentLoaded", async () => {
  await loadNamespaces();
  render();
});
