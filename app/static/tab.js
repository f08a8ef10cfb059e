// The Teams side of the incident tab (templates/tab): teams-js app.initialize(), then
// Teams single sign-on (authentication.getAuthToken, the token posted to /tab/sign-in),
// Teams' consent pop-up when Entra asks for consent, and the configuration page's Save.
// teams-js is bundled (static/build/teams-js.min.js, from npm); nothing is fetched from
// elsewhere at run time.
import { initAll } from "./build/govuk-frontend.min.js";

initAll();
const teams = window.microsoftTeams;
const holder = document.getElementById("tab-settings");
const tab = JSON.parse(holder.dataset.tab);
const csrf = holder.dataset.csrf;
const status = document.getElementById("tab-status");

function say(text) {
  if (status) status.textContent = text;
}

function show(id) {
  const node = document.getElementById(id);
  if (node) node.hidden = false;
}

async function signIn() {
  say("Signing you in with your Teams account…");
  let token;
  try {
    token = await teams.authentication.getAuthToken();
  } catch (error) {
    say(`Teams could not sign you in (${error.message || error}). Close the tab and open it again.`);
    return;
  }
  const answer = await fetch(tab.signInUrl, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
    body: JSON.stringify({ token }),
  });
  let body = {};
  try { body = await answer.json(); } catch { /* an HTML error page */ }
  if (answer.ok) {
    say(`Signed in as ${body.name}. Loading…`);
    window.location.reload();
    return;
  }
  say(body.message || "Incident Desk could not sign you in. Try again in a minute.");
  if (body.consent) show("tab-consent");
}

async function askForConsent() {
  const url = new URL(tab.consentUrl, window.location.href);
  try {  // Entra's prompt then needs no account picker
    const context = await teams.app.getContext();
    const hint = context.user && (context.user.loginHint || context.user.userPrincipalName);
    if (hint) url.searchParams.set("login_hint", hint);
  } catch { /* no hint: Entra asks who you are */ }
  teams.authentication.authenticate({ url: url.href, width: 600, height: 535 })
    .then(() => signIn(), (error) => say(`Permission was not given (${error.message || error}).`));
}

function configure() {
  const select = document.getElementById("incident");
  const valid = () => teams.pages.config.setValidityState(Boolean(select && select.value));
  if (select) select.addEventListener("change", valid);
  valid();
  teams.pages.config.registerOnSaveHandler((saveEvent) => {
    const option = select.selectedOptions[0];
    teams.pages.config.setConfig({
      entityId: option.value, suggestedDisplayName: option.value,
      contentUrl: option.dataset.contentUrl, websiteUrl: option.dataset.websiteUrl,
    }).then(() => saveEvent.notifySuccess(), (error) => saveEvent.notifyFailure(String(error)));
  });
  if (!tab.channel) {  // a configurationUrl without Teams' placeholders filled in
    teams.app.getContext().then((context) => {
      const channel = context.channel && context.channel.id;
      if (channel) {
        const url = new URL(window.location.href);
        url.searchParams.set("channel", channel);
        window.location.replace(url);
      }
    });
  }
}

const consentButton = document.getElementById("tab-consent-button");
if (consentButton) consentButton.addEventListener("click", askForConsent);

teams.app.initialize(tab.hosts).then(() => {
  teams.app.notifySuccess();
  if (tab.mode === "consent-done") {
    if (tab.error) teams.authentication.notifyFailure(tab.error);
    else teams.authentication.notifySuccess("consented");
  } else if (!tab.signedIn) {
    signIn();
  } else if (tab.mode === "config") {
    configure();
  }
}, () => {
  say("This page opens as a tab in Microsoft Teams.");
  show("tab-outside");
});
