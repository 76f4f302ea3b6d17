"""Outside systems the engine pays or fulfils through: gift-card sources, payout rails."""
