// The storefront: a small single-page app. Each navigation renders a page and tracks its view with
// page(); links marked data-link navigate without a reload.
import { driftless } from "./analytics.js";
import { route, updateCartCount } from "./pages.js";
import "./style.css";

const root = document.getElementById("app")!;

function show(path: string): void {
  const page = route(path);
  // The title first: page() reads it, with the path and query, from the document.
  document.title = page.title;
  page.render(root, navigate);
  driftless.page({ category: page.category });
}

function navigate(path: string): void {
  history.pushState(null, "", path);
  show(path);
  scrollTo(0, 0);
}

document.addEventListener("click", (e) => {
  const link = (e.target as Element).closest<HTMLAnchorElement>("a[data-link]");
  if (!link || e.defaultPrevented || e.button != 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(link.pathname);
});
addEventListener("popstate", () => show(location.pathname));

updateCartCount();
show(location.pathname);
