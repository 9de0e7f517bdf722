int encode(int v);
