unsigned encode(unsigned v);
