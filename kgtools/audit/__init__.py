"""What a model knows of a knowledge graph (`kgtools audit`): every sampled fact asked closed-book and as
multiple choice, answered right or not, per concept, relation and kind."""
