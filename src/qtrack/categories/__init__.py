"""Categories of item types: a small tree ("Consumables > Syringes")."""
