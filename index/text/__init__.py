"""Article text: reading inputs (`articles`), decoding and normalising text (`normalise`),
cleaning scraped pages (`cleaning`), dates (`dates`), cutting bodies into passages (`passages`),
finding countries (`countries`) and near-duplicates (`duplicates`). Pure functions over text;
nothing here touches an index."""
