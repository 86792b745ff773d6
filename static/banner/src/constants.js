// Names shared by the banner's modules; one place so the bundle stays small and consistent.
export const COOKIE = "cm_consent";
export const QUEUE_KEY = "cm_queue";
export const RECEIPT_KEY = "cm_receipt";
export const PREFIX = "cm-";
// The banner's layouts; the first is the default (declaration/constants.py has the same list).
export const LAYOUTS = ["bar", "box", "modal"];
export const GCM_TYPES = [
  "ad_storage",
  "ad_user_data",
  "ad_personalization",
  "analytics_storage",
  "functionality_storage",
  "personalization_storage",
  "security_storage",
];
// Milliseconds Google tags wait for our update before they fire with the defaults.
export const GCM_WAIT = 500;
export const DAY = 864e5;
