// Compiles GOV.UK Frontend into app/static/build without the GOV.UK brand
// (no GDS Transport font, no crown), and copies the component JavaScript and teams-js.
import { mkdirSync, copyFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as sass from "sass";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "app", "static", "build");
const govuk = join(root, "node_modules", "govuk-frontend", "dist", "govuk");
mkdirSync(out, { recursive: true });

const css = sass.compile(join(root, "app", "assets", "app.scss"), {
  loadPaths: [join(root, "node_modules")],
  style: "compressed",
  quietDeps: true,
  silenceDeprecations: ["import"],
});
writeFileSync(join(out, "app.css"), css.css);
copyFileSync(join(govuk, "govuk-frontend.min.js"), join(out, "govuk-frontend.min.js"));
// Microsoft's teams-js for the Teams tab (templates/tab), served from here, never a CDN.
copyFileSync(join(root, "node_modules", "@microsoft", "teams-js", "dist", "umd",
                  "MicrosoftTeams.min.js"), join(out, "teams-js.min.js"));
console.log("assets built into app/static/build");
