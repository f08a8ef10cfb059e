// Start the GOV.UK Frontend components (character counts, error summaries, menus).
import { initAll } from "./build/govuk-frontend.min.js";

initAll();
