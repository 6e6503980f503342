// The sandbox page: every click, form and command goes to the sandbox, which sends it to the bot signed as
// Slack would, and answers with what the page should now show. No build step, no dependencies.
"use strict";

(function () {
  const body = document.body;
  const where = {
    user: body.dataset.user, channel: body.dataset.channel, tab: body.dataset.tab, thread: body.dataset.thread,
  };
  let version = body.dataset.version;
  let busy = 0;
  const $ = (id) => document.getElementById(id);

  function say(text) { $("status").textContent = text || ""; }

  async function post(route, extra) {
    busy += 1;
    say("Sending…");
    try {
      const response = await fetch("/sandbox/" + route, {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify(Object.assign({where: where}, extra || {})),
      });
      const answer = await response.json();
      if (!response.ok) { say(answer.error || "That did not work."); return null; }
      say("");
      return answer;
    } catch (error) {
      say("The sandbox is not answering: is `renewbot sandbox` still running?");
      return null;
    } finally {
      busy -= 1;
    }
  }

  // A control found again after its fragment is replaced: by id, else by its message and what it sends.
  function focusKey(element) {
    if (!element || element === document.body) return null;
    if (element.id) return "#" + CSS.escape(element.id);
    const marks = ["data-action-id", "data-value", "data-thread-ts"].filter(function (name) {
      return element.hasAttribute(name);
    });
    if (!marks.length) return null;
    const message = element.closest("[data-ts]");
    return (message && message !== element ? "[data-ts='" + CSS.escape(message.dataset.ts) + "'] " : "") +
      element.tagName.toLowerCase() + marks.map(function (name) {
        return "[" + name + "='" + CSS.escape(element.getAttribute(name)) + "']";
      }).join("");
  }

  function setHtml(element, html) {
    if (element.dataset.html === html) return;
    // Swapping the HTML would drop a keyboard user's focus: the same control gets it back.
    const key = element.contains(document.activeElement) ? focusKey(document.activeElement) : null;
    element.innerHTML = html;
    element.dataset.html = html;
    const again = key && element.querySelector(key);
    if (again) again.focus();
  }

  function apply(state) {
    if (!state || state.unchanged || state.options) return;
    version = state.version;
    $("clock").textContent = "Sandbox time: " + state.clock;
    setHtml($("channels"), state.channels_html);
    setHtml($("messages"), state.messages_html);
    setHtml($("thread-messages"), state.thread_html);
    setHtml($("home"), state.home_html);
    $("channel-title").textContent = state.channel_name;
    $("message-box").querySelector("label").firstChild.textContent = "Message " + state.channel_name + " (try ";
    $("channel-view").hidden = where.tab === "home";
    $("home-view").hidden = where.tab !== "home";
    $("thread").hidden = !where.thread;
    showModal(state.modal);
  }

  function showModal(modal) {
    const host = $("modal-host");
    if (host.dataset.key === modal.key) return;  // unchanged: keep what the person is typing
    const open = host.querySelector("dialog");
    const sameView = open && open.dataset.viewId === modal.id;
    if (open && open.open) open.close();
    host.dataset.key = modal.key;
    host.innerHTML = modal.html;
    const dialog = host.querySelector("dialog");
    if (!dialog) { if (!sameView) returnFocus(); return; }
    dialog.showModal();
    const invalid = dialog.querySelector("[aria-invalid=true]");
    (invalid || dialog.querySelector("input, select, textarea, button:not([data-close])") || dialog).focus();
  }

  // Where focus goes back when a modal or thread closes: the control that opened it, or (its message having
  // been re-rendered since) the same control found again.
  let lastFocus = null;
  let lastFocusKey = null;
  function remember(element) { lastFocus = element; lastFocusKey = focusKey(element); }
  function returnFocus() {
    const again = lastFocus && document.contains(lastFocus) ? lastFocus
      : lastFocusKey && document.querySelector(lastFocusKey);
    if (again) again.focus();
  }

  async function refresh(force) {
    const query = new URLSearchParams(where);
    if (!force) query.set("since", version);
    try {
      const response = await fetch("/sandbox/state?" + query.toString());
      if (response.ok) apply(await response.json());
    } catch (error) { /* the next poll tries again */ }
  }

  // --- reading a modal's form as the sandbox wants it: [{block_id, action_id, type, value}] -------------
  function option(element) { return element.dataset.option ? JSON.parse(element.dataset.option) : null; }

  function fieldValue(element) {
    const type = element.dataset.type;
    if (element.tagName === "SELECT") {
      const chosen = Array.from(element.selectedOptions).map(option).filter(Boolean);
      return element.multiple ? chosen : (chosen[0] || null);
    }
    if (type === "multi_users_select" || type === "multi_conversations_select") return element.value;
    return element.value;
  }

  function formValues(form) {
    const fields = [];
    const seen = new Set();
    form.querySelectorAll("[name][data-type]").forEach(function (element) {
      const name = element.getAttribute("name");
      const slash = name.indexOf("/");
      if (slash < 0) return;
      const entry = {block_id: name.slice(0, slash), action_id: name.slice(slash + 1), type: element.dataset.type};
      if (element.type === "checkbox" || element.type === "radio") {
        if (seen.has(name)) return;
        seen.add(name);
        const ticked = Array.from(form.querySelectorAll("[name='" + CSS.escape(name) + "']:checked")).map(option);
        entry.value = element.type === "checkbox" ? ticked : (ticked[0] || null);
      } else {
        entry.value = fieldValue(element);
      }
      fields.push(entry);
    });
    return fields;
  }

  // --- what a click or a pick sends ---------------------------------------------------------------------
  function actionOf(element) {
    const action = {action_id: element.dataset.actionId, block_id: element.dataset.blockId, type: element.dataset.type};
    if (element.dataset.value !== undefined) action.value = element.dataset.value;
    if (element.dataset.url) action.url = element.dataset.url;
    const type = action.type;
    if (element.tagName === "SELECT") {
      const chosen = Array.from(element.selectedOptions).map(option).filter(Boolean);
      if (element.multiple) action.selected_options = chosen; else action.selected_option = chosen[0] || null;
    } else if (type === "datepicker") {
      action.selected_date = element.value || null;
    } else if (type === "timepicker") {
      action.selected_time = element.value || null;
    } else if (type === "checkboxes") {
      const group = element.closest(".bk-checkboxes") || element.parentElement;
      action.selected_options = Array.from(group.querySelectorAll("input:checked")).map(option);
    } else if (type === "radio_buttons") {
      action.selected_option = option(element);
    }
    return action;
  }

  async function act(element) {
    const action = actionOf(element);
    const message = element.closest("[data-ts]");
    const dialog = element.closest("dialog");
    const home = element.closest(".bk-home");
    const extra = {action: action};
    if (dialog) {
      extra.view_id = dialog.dataset.viewId;
      extra.values = formValues(dialog.querySelector("form"));
    } else if (home) {
      extra.view_id = home.dataset.viewId;
    } else if (message) {
      extra.channel = message.dataset.channel;
      extra.ts = message.dataset.ts;
    } else {
      return;
    }
    remember(element);
    apply(await post("action", extra));
  }

  // --- events -------------------------------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    const target = event.target.closest("button, a");
    if (!target) return;
    if (target.dataset.threadTs) {
      where.thread = target.dataset.threadTs;
      remember(target);
      refresh(true).then(function () { $("close-thread").focus(); });
      return;
    }
    if (target.dataset.close) {
      const dialog = target.closest("dialog");
      post("close", {view_id: dialog.dataset.viewId}).then(apply);
      return;
    }
    if (target.classList.contains("channel")) {
      if (target.dataset.tab === "home") {
        where.tab = "home";
        where.thread = "";
        post("home").then(apply);
      } else {
        where.tab = "channel";
        where.channel = target.dataset.channel;
        where.thread = "";
        refresh(true);
      }
      return;
    }
    if (target.id === "close-thread") { where.thread = ""; refresh(true); returnFocus(); return; }
    if (target.id === "advance-day") { post("clock").then(apply); return; }
    if (target.dataset.actionId !== undefined && target.dataset.type === "button") {
      if (target.tagName !== "A") event.preventDefault();  // a url button opens its link and tells the bot
      act(target);
    }
  });

  document.addEventListener("change", function (event) {
    const element = event.target;
    if (element.id === "you-are") {
      where.user = element.value;
      if (where.tab === "home") post("home").then(apply); else refresh(true);
      return;
    }
    if (element.dataset.actionId === undefined) return;
    const inForm = element.closest("dialog") && element.name;
    if (inForm && !element.dataset.dispatchAction) return;  // input blocks send their values on submit
    act(element);
  });

  // External selects: their options come from the bot (a signed block_suggestion) when they get focus.
  document.addEventListener("focusin", async function (event) {
    const select = event.target;
    if (select.tagName !== "SELECT" || select.dataset.external !== "1" || select.dataset.loaded) return;
    const dialog = select.closest("dialog");
    const home = select.closest(".bk-home");
    const viewId = dialog ? dialog.dataset.viewId : home ? home.dataset.viewId : "";
    const answer = await post("suggest", {view_id: viewId, action_id: select.dataset.actionId,
                                          block_id: select.dataset.blockId, value: ""});
    if (!answer) return;
    select.dataset.loaded = "1";
    const chosen = new Set(Array.from(select.selectedOptions).map(function (o) { return o.value; }));
    answer.options.forEach(function (opt) {
      if (chosen.has(opt.value)) return;
      const item = document.createElement("option");
      item.value = opt.value;
      item.textContent = (opt.text && opt.text.text) || opt.value;
      item.dataset.option = JSON.stringify(opt);
      select.appendChild(item);
    });
  });

  document.addEventListener("submit", async function (event) {
    event.preventDefault();
    const form = event.target;
    if (form.id === "message-box") {
      const input = $("message-text");
      const text = input.value.trim();
      if (!text) return;
      const answer = await post("command", {text: text});
      if (answer) { input.value = ""; apply(answer); }
      return;
    }
    const dialog = form.closest("dialog");
    if (dialog) apply(await post("submit", {view_id: dialog.dataset.viewId, values: formValues(form)}));
  });

  // Escape on a modal: Slack closes it; so does the sandbox.
  document.addEventListener("cancel", function (event) {
    const dialog = event.target;
    if (dialog.tagName !== "DIALOG") return;
    event.preventDefault();
    post("close", {view_id: dialog.dataset.viewId}).then(apply);
  }, true);

  const initial = $("modal-host").querySelector("dialog");
  if (initial) initial.showModal();
  setInterval(function () { if (!busy) refresh(false); }, 1000);
})();
