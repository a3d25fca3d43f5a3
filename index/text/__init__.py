"""Article text: reading inputs (`articles`), cleaning scraped pages (`cleaning`), dates (`dates`),
cutting bodies into passages (`passages`), finding countries (`countries`) and near-duplicates
(`duplicates`). Pure functions over text; nothing here touches an index."""
