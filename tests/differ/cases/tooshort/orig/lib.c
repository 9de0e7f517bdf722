__attribute__((noinline)) int flag(void)
{
	return 0;
}

__attribute__((noinline)) int next(int v)
{
	return v * 3 + flag();
}

int run(int x)
{
	return next(x);
}
