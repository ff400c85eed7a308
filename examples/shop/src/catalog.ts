// The shop's catalogue, shared by the page (what it shows and tracks) and the checkout server
// (what it charges): prices are the server's, never the page's.

export const CURRENCY = "EUR";

export interface Product {
  id: string;
  name: string;
  /** Catalogue category path, as product_viewed's `category` carries it. */
  category: string;
  /** Unit price in euros. */
  price: number;
  inStock: boolean;
  blurb: string;
  /** Two colours for the product's picture, drawn in CSS. */
  colors: [string, string];
}

export const PRODUCTS: readonly Product[] = [
  { id: "trail-runner", name: "Trail runner", category: "shoes/running", price: 129, inStock: true, blurb: "Grippy soles for wet roots and loose gravel.", colors: ["#0f766e", "#99f6e4"] },
  { id: "city-sneaker", name: "City sneaker", category: "shoes/casual", price: 89.9, inStock: true, blurb: "Soft leather, stitched soles, all-day comfort.", colors: ["#1e3a8a", "#bfdbfe"] },
  { id: "rain-shell", name: "Rain shell", category: "apparel/jackets", price: 159.5, inStock: true, blurb: "Taped seams, packs into its own pocket.", colors: ["#9a3412", "#fed7aa"] },
  { id: "wool-socks", name: "Merino socks (3 pairs)", category: "apparel/socks", price: 24, inStock: false, blurb: "Warm when wet, never itchy.", colors: ["#6b21a8", "#e9d5ff"] },
];

export const SHIPPING = {
  standard: { label: "Standard (3–5 days)", price: 4.9 },
  express: { label: "Express (next day)", price: 12.9 },
  pickup: { label: "Pick up in store", price: 0 },
} as const;

export type ShippingMethod = keyof typeof SHIPPING;

export const productById = (id: string): Product | undefined => PRODUCTS.find((p) => p.id === id);

/** Cents, so that sums of prices stay exact. */
export const cents = (euros: number): number => Math.round(euros * 100);

export const formatPrice = (euros: number): string => new Intl.NumberFormat("en-IE", { style: "currency", currency: CURRENCY }).format(euros);
