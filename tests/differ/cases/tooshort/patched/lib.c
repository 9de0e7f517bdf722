__attribute__((noinline)) int flag(void)
{
	return 1;
}

__attribute__((noinline)) int next(int v)
{
	return v * 3 + flag();
}

int run(int x)
{
	return next(x);
}
